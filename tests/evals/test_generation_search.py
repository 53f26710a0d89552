"""Generation end to end on synthetic data: minimum data, honesty, determinism."""

import json
import math

import pytest

from app.evals.generation import Budget, GenerationResult, InsufficientData, compile_spec, generate
from app.evals.generation.examples import as_examples
from tests.evals.synthetic import random_labels, synthetic_traces

QUICK = Budget(n_splits=3, n_repeats=1, generations=1)


def test_too_few_examples_says_how_many_more():
    data = synthetic_traces(60, seed=1)
    fails = [d for d in data if d["label"] == "fail"][:7]
    passes = [d for d in data if d["label"] == "pass"][:3]
    result = generate(fails + passes)
    assert isinstance(result, InsufficientData)
    assert (result.more_fail_needed, result.more_pass_needed) == (1, 5)
    assert result.message == "needs 1 more positive (failed examples) and 5 more negatives (passing examples)"


def test_generation_end_to_end_reports_cross_validated_figures_and_refits():
    data = synthetic_traces(150, seed=5)
    result = generate(data, seed=0, budget=QUICK)
    assert isinstance(result, GenerationResult)
    m = result.metrics
    assert m["measured_by"] == "cv" and m["mcc"] is not None and m["mcc"] > 0.6
    low, high = m["mcc_ci"]
    assert low <= m["mcc"] <= high and high - low > 0.05
    # Every example counts once in the figure, with the share of CV repeats that predicted it fail.
    assert m["n"] == 150 == sum(m["confusion"].values())
    assert result.sizes["n_train"] == 150 and result.sizes["n_holdout"] == 0
    assert result.refit_on_all and result.sizes["n_refit"] == 150
    assert result.cv["mcc"] == pytest.approx(m["mcc"])  # the procedure's estimate is the figure shown
    json.dumps(result.to_dict())  # all plain JSON
    verdicts = compile_spec(json.loads(json.dumps(result.spec))).evaluate(data[:5])
    assert all(v.verdict in ("pass", "fail") and v.explanation for v in verdicts)


def test_the_figure_is_the_mcc_of_its_out_of_fold_predictions():
    data = synthetic_traces(90, seed=6)
    result = generate(data, seed=2, budget=Budget(n_splits=3, n_repeats=2, generations=1))
    actual, share, groups = result.evidence
    assert [e.is_fail for e in as_examples(data)] == list(actual)
    assert set(share.tolist()) <= {0.0, 0.5, 1.0}  # two repeats
    tp, fp = float(share[actual].sum()), float(share[~actual].sum())
    fn, tn = float((1 - share[actual]).sum()), float((1 - share[~actual]).sum())
    by_hand = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert result.metrics["mcc"] == pytest.approx(by_hand)
    assert result.metrics["n_groups"] == len(set(groups)) == result.sizes["n_groups"]


def test_same_input_and_seed_give_the_same_spec():
    data = synthetic_traces(64, seed=7)
    first = generate(data, seed=3, budget=QUICK)
    second = generate(data, seed=3, budget=QUICK)
    assert json.dumps(first.spec, sort_keys=True) == json.dumps(second.spec, sort_keys=True)
    assert first.metrics == second.metrics


@pytest.mark.slow
def test_random_labels_give_near_zero_figures_not_inflated_ones():
    data = random_labels(synthetic_traces(360, seed=8), seed=8)
    result = generate(data, seed=0, budget=Budget(n_splits=5, n_repeats=2, generations=1))
    held = result.metrics["mcc"]
    assert held is None or abs(held) < 0.2
    assert result.cv["mcc"] is None or result.cv["mcc"] < 0.2
    low, high = result.metrics["mcc_ci"]
    assert low is None or low < 0.1


def test_groups_stay_together_in_the_holdout():
    data = synthetic_traces(120, seed=9)
    for d in data:
        d["group"] = f"task{int(d['id'][1:]) // 4}"
    result = generate(data, seed=1, budget=QUICK)
    assert math.isfinite(result.metrics["mcc"])
    assert result.sizes["n_groups"] == 30


def _candidate(family: str, fitness: float, **params):
    import numpy as np

    from app.evals.generation.search import Candidate, Recipe

    return Candidate((Recipe.of(family, **params),), None, np.zeros((1, 1), dtype=bool), 1.0, 1.0, fitness=fitness)


class _Groups:
    def __init__(self, n_groups: int):
        self.groups = [str(i) for i in range(n_groups)]


def test_a_plain_classifier_is_kept_unless_beaten_by_more_than_the_luck_of_choosing():
    from app.evals.generation.search import pick, selection_margin

    lucky_rule = _candidate("rule", 0.55, field="tool_results", max_clauses=3)
    plain = _candidate("classifier", 0.48, view="input_output", C=1.0, with_structure=False, threshold="balanced")
    other_view = _candidate("classifier", 0.41, view="full", C=1.0, with_structure=False, threshold="balanced")
    tuned = _candidate("classifier", 0.53, view="full", C=10.0, with_structure=False, threshold="balanced")
    candidates = [lucky_rule, tuned, plain, other_view]
    # 100 groups: margin 1 / 10 = 0.10; the rule's 0.07 lead is within it.
    assert selection_margin(_Groups(100)) == pytest.approx(0.1)
    assert pick(candidates, _Groups(100)) is plain
    # The reference (words only), when there is one, is the plain classifier kept, even if another scored higher.
    reference = _candidate("classifier", 0.46, view="input_output", C=1.0, with_structure=False,
                           threshold="balanced", words_only=True)
    assert pick(candidates + [reference], _Groups(100)) is reference
    assert pick(candidates + [reference], _Groups(1600)) is lucky_rule
    # 1,600 groups: margin 0.025; a lead of 0.07 is real.
    assert pick(candidates, _Groups(1600)) is lucky_rule
    assert pick([lucky_rule, tuned], _Groups(100)) is lucky_rule  # no plain one to fall back on


def test_random_labels_give_an_interval_that_includes_zero():
    """The figure estimates the whole procedure (searched again with each fold hidden), so luck found by
    the search on one fold's labels cannot flatter that fold's score."""
    data = random_labels(synthetic_traces(80, seed=5), seed=5)
    result = generate(data, seed=0, budget=Budget(n_splits=5, n_repeats=1, generations=2))
    low, high = result.metrics["mcc_ci"]
    assert low <= 0 <= high
