"""Generation end to end on the shared, human/gold-labelled data sets (figures are not asserted)."""

import math

import pytest

from app.evals.generation import Budget, GenerationResult, compile_spec, generate
from tests.evals.shared_sets import tau_bench_airline, tofueval

pytestmark = pytest.mark.slow


def _check(result):
    assert isinstance(result, GenerationResult)
    m = result.metrics
    assert m["mcc"] is None or math.isfinite(m["mcc"])
    if m["mcc"] is not None and m["mcc_ci"][0] is not None:
        assert m["mcc_ci"][0] <= m["mcc"] <= m["mcc_ci"][1]
    assert m["n"] == result.sizes["n_examples"] and m["measured_by"] == "cv"
    assert result.refit_on_all


def test_tau_bench_airline_grouped_by_task():
    data = tau_bench_airline()
    result = generate(data, seed=0, budget=Budget(n_repeats=1, generations=2))
    _check(result)
    assert result.sizes["n_groups"] == 50
    verdicts = compile_spec(result.spec).evaluate(data[:4])
    assert len(verdicts) == 4 and all(v.explanation for v in verdicts)


def test_tofueval_summaries():
    result = generate(tofueval(), seed=0, budget=Budget(n_repeats=1, generations=2))
    _check(result)
    assert result.sizes["n_examples"] == 420
