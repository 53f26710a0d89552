"""The gate's test against references worked out another way: the Rogan–Gladen formula by
hand, and simulation (repeat the whole experiment — labels for TPR/TNR, both samples —
and count how often the interval covers the true rise and how often it cries wolf)."""

import numpy as np
import pytest

from app.gate.comparison import compare


def test_point_figures_match_the_correction_worked_by_hand():
    result = compare((200, 1000), (100, 1000), tpr=0.9, tnr=0.95, labelled_fail=100, labelled_pass=200,
                     max_increase=0.02, draws=4000)
    # (observed + TNR - 1) / (TPR + TNR - 1)
    assert result["baseline"]["estimate"] == pytest.approx((0.10 - 0.05) / 0.85)
    assert result["candidate"]["estimate"] == pytest.approx((0.20 - 0.05) / 0.85)
    assert result["difference"] == pytest.approx(0.10 / 0.85)
    assert result["ci"][0] < result["difference"] < result["ci"][1]
    assert result["decision"] == "regression"


def _simulate(rng, true_base, true_cand, tpr, tnr, n_base, n_cand, labelled_fail, labelled_pass):
    """One whole experiment: TPR/TNR measured on labels, then each side's flags by the evaluator."""
    tpr_hat = rng.binomial(labelled_fail, tpr) / labelled_fail
    tnr_hat = rng.binomial(labelled_pass, tnr) / labelled_pass

    def flagged(rate, n):
        return int(rng.binomial(n, rate * tpr + (1 - rate) * (1 - tnr)))

    return (flagged(true_cand, n_cand), n_cand), (flagged(true_base, n_base), n_base), tpr_hat, tnr_hat


@pytest.mark.parametrize("true_base,true_cand", [(0.10, 0.20), (0.15, 0.15), (0.05, 0.12)])
def test_interval_covers_the_true_rise_about_95_percent_of_the_time(true_base, true_cand):
    rng = np.random.default_rng(7)
    covered, replications = 0, 300
    for _ in range(replications):
        cand, base, tpr_hat, tnr_hat = _simulate(rng, true_base, true_cand, 0.85, 0.9, 1500, 800, 60, 150)
        ci = compare(cand, base, tpr=tpr_hat, tnr=tnr_hat, labelled_fail=60, labelled_pass=150,
                     max_increase=0.0, draws=3000)["ci"]
        covered += ci[0] <= true_cand - true_base <= ci[1]
    # 300 replications: a 95% interval covers between ~91% and ~98.5% of the time (binomial spread).
    assert 0.91 <= covered / replications <= 0.995


def test_equal_rates_rarely_fail_and_a_doubled_rate_usually_does():
    rng = np.random.default_rng(11)
    false_alarms = caught = 0
    for _ in range(200):
        cand, base, tpr_hat, tnr_hat = _simulate(rng, 0.1, 0.1, 0.85, 0.9, 1000, 1000, 60, 150)
        false_alarms += compare(cand, base, tpr=tpr_hat, tnr=tnr_hat, labelled_fail=60, labelled_pass=150,
                                max_increase=0.0, draws=3000)["decision"] == "regression"
        cand, base, tpr_hat, tnr_hat = _simulate(rng, 0.1, 0.2, 0.85, 0.9, 1000, 1000, 60, 150)
        caught += compare(cand, base, tpr=tpr_hat, tnr=tnr_hat, labelled_fail=60, labelled_pass=150,
                          max_increase=0.02, draws=3000)["decision"] == "regression"
    assert false_alarms / 200 <= 0.05  # nominal 2.5% one-sided
    assert caught / 200 >= 0.8


def test_shared_evaluator_error_is_narrower_than_treating_the_sides_as_independent():
    """The same TPR/TNR judged both sides: their uncertainty mostly cancels in the difference.
    Reference: the same draws with independent TPR/TNR for each side give a wider interval."""
    shared = compare((200, 1000), (100, 1000), tpr=0.85, tnr=0.9, labelled_fail=40, labelled_pass=80,
                     max_increase=0.0, draws=20000)["ci"]
    rng = np.random.default_rng(0)

    def side(k, n):
        s = rng.beta(0.85 * 40 + 0.5, 40 - 0.85 * 40 + 0.5, 20000)
        t = rng.beta(0.9 * 80 + 0.5, 80 - 0.9 * 80 + 0.5, 20000)
        p = rng.beta(k + 0.5, n - k + 0.5, 20000)
        keep = s + t > 1
        return np.clip((p + t - 1) / (s + t - 1), 0, 1)[keep][:15000]

    independent = np.quantile(side(200, 1000) - side(100, 1000), [0.025, 0.975])
    assert shared[1] - shared[0] < independent[1] - independent[0]


def test_no_better_than_chance_cannot_decide():
    result = compare((50, 100), (40, 100), tpr=0.5, tnr=0.5, labelled_fail=10, labelled_pass=10,
                     max_increase=0.0)
    assert result["decision"] == "undecided" and result["ci"] is None
