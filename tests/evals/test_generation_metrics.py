import math

import numpy as np
import pytest

from scipy import stats

from app.evals.generation import Confusion, chance_reason, mcc, mcc_interval, rogan_gladen
from app.evals.generation.metrics import best_threshold, binary_metrics, group_cells


def test_mcc_matches_hand_computation():
    # tp=6 fp=2 fn=3 tn=9: (6*9 - 2*3) / sqrt(8 * 9 * 11 * 12) = 48 / sqrt(9504)
    value, reason = mcc(Confusion(tp=6, fp=2, fn=3, tn=9))
    assert reason is None
    assert value == pytest.approx(48 / math.sqrt(9504))
    assert value == pytest.approx(0.49236, abs=1e-5)


def test_mcc_perfect_and_inverted():
    assert mcc({"tp": 5, "fp": 0, "fn": 0, "tn": 5}) == (1.0, None)
    assert mcc({"tp": 0, "fp": 5, "fn": 5, "tn": 0}) == (-1.0, None)


@pytest.mark.parametrize(
    "cells, reason",
    [
        ({"tp": 0, "fp": 0, "fn": 4, "tn": 6}, "no predicted failures"),
        ({"tp": 4, "fp": 6, "fn": 0, "tn": 0}, "no predicted passes"),
        ({"tp": 0, "fp": 3, "fn": 0, "tn": 7}, "no actual failures"),
        ({"tp": 3, "fp": 0, "fn": 7, "tn": 0}, "no actual passes"),
        ({"tp": 0, "fp": 0, "fn": 0, "tn": 0}, "no examples"),
    ],
)
def test_mcc_undefined_says_why(cells, reason):
    value, why = mcc(cells)
    assert value is None
    assert reason in why


def test_confusion_from_labels():
    c = Confusion.of([True, True, False, False, True], [True, False, True, False, True])
    assert c.as_dict() == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}


def reference_interval(counts, level=0.95, prior=0.5, draws=40000, seed=11):
    """Second implementation for one row per group: the Dirichlet posterior of the four cells,
    drawn with numpy's own Dirichlet, MCC per draw written out, the small-sample widening by hand."""
    tp, fp, fn, tn = counts
    n = sum(counts)
    a = (n - 2) / n
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([tp * a + prior, fp * a + prior, fn * a + prior, tn * a + prior], size=draws)
    ptp, pfp, pfn, ptn = p.T
    values = (ptp * ptn - pfp * pfn) / np.sqrt((ptp + pfp) * (ptp + pfn) * (ptn + pfp) * (ptn + pfn))
    tail = (1 - level) / 2
    low, median, high = np.quantile(values, [tail, 0.5, 1 - tail])
    scarce = min(tp + fn, fp + tn)
    df = min(max(1.5 * scarce - 1, 3), n - 1)
    widen = stats.t.ppf(1 - tail, df) / stats.norm.ppf(1 - tail)
    return max(-1, median - (median - low) * widen), min(1, median + (high - median) * widen)


def rows_of(tp, fp, fn, tn):
    actual = [True] * tp + [False] * fp + [True] * fn + [False] * tn
    predicted = [True] * (tp + fp) + [False] * (fn + tn)
    return actual, predicted


@pytest.mark.parametrize("counts", [(6, 2, 3, 9), (30, 10, 12, 148), (5, 0, 3, 40), (40, 5, 8, 7)])
def test_mcc_interval_matches_a_second_implementation(counts):
    low, high = mcc_interval(*rows_of(*counts), draws=40000, seed=2)
    ref_low, ref_high = reference_interval(counts)
    assert low == pytest.approx(ref_low, abs=0.015)
    assert high == pytest.approx(ref_high, abs=0.015)


def test_mcc_interval_level_is_the_one_asked_for():
    data = rows_of(30, 10, 12, 148)
    for level in (0.8, 0.95):
        low, high = mcc_interval(*data, level=level, draws=40000)
        ref = reference_interval((30, 10, 12, 148), level=level)
        assert (low, high) == pytest.approx(ref, abs=0.015)
    assert mcc_interval(*data) == mcc_interval(*data, level=0.95)


def test_an_empty_cell_does_not_collapse_the_interval():
    # The case: 8 failures, all caught, no false alarm, n = 61.
    low, high = mcc_interval(*rows_of(8, 0, 0, 53), seed=1)
    assert high == 1.0  # the observed MCC stays inside
    assert low == pytest.approx(reference_interval((8, 0, 0, 53))[0], abs=0.02)
    assert low < 0.85


def test_one_class_predictions_get_an_interval_around_zero():
    low, high = mcc_interval([True] * 10 + [False] * 10, [False] * 20)
    assert low < 0 < high
    assert chance_reason(binary_metrics([True] * 10 + [False] * 10, [False] * 20)) == \
        "its MCC is undefined (no predicted failures)"


def test_group_cells_counts_every_cell_by_hand():
    actual = [True, True, False, False, False, True]
    predicted = [1.0, 0.0, 1.0, 0.0, 0.0, 0.5]
    groups = ["a", "a", "b", "b", "c", "c"]
    cells = group_cells(actual, predicted, groups)
    # tp, fp, fn, tn per group a, b, c
    assert cells.tolist() == [[1, 0, 1, 0], [0, 1, 0, 1], [0.5, 0, 0.5, 1]]


def test_rows_of_one_group_count_once():
    """Four identical copies of every row, grouped, carry the evidence of the rows themselves."""
    rng = np.random.default_rng(0)
    actual = rng.random(120) < 0.4
    predicted = np.where(rng.random(120) < 0.8, actual, ~actual)
    single = mcc_interval(actual, predicted, seed=3)
    grouped = mcc_interval(np.repeat(actual, 4), np.repeat(predicted, 4), groups=np.repeat(np.arange(120), 4), seed=3)
    naive = mcc_interval(np.repeat(actual, 4), np.repeat(predicted, 4), seed=3)
    assert grouped == pytest.approx(single, abs=0.02)
    assert (naive[1] - naive[0]) < 0.6 * (single[1] - single[0])


def test_mcc_interval_covers_the_true_mcc_in_simulation():
    """A fixed, fast set of synthetic trials (bench/coverage.py runs the full table)."""
    from bench.coverage import Population

    rng = np.random.default_rng(20261205)
    populations = [Population(rate, tpr, tnr, grouped) for rate, tpr, tnr, grouped in
                   [(0.2, 0.7, 0.85, False), (0.5, 0.85, 0.9, True), (0.2, 0.97, 0.99, True), (0.1, 0.6, 0.6, False)]]
    covered = trials = 0
    for population in populations:
        for n in (60, 300):
            for trial in range(40):
                actual, predicted, groups = population.sample(n, rng)
                low, high = mcc_interval(actual, predicted, groups=groups, draws=1000, seed=trial)
                covered += low <= population.true_mcc <= high
                trials += 1
    assert covered / trials >= 0.90


def test_mcc_interval_rejects_a_meaningless_level():
    with pytest.raises(ValueError):
        mcc_interval([True, False], [True, False], level=1.0)


def test_chance_reason():
    assert chance_reason({"mcc": 0.4, "mcc_ci": [0.1, 0.6]}) is None
    assert chance_reason({"mcc": 0.2, "mcc_ci": [0.0, 0.4]}) == "its 95% interval (0.00 to 0.40) includes 0"
    assert chance_reason({"mcc": -0.29, "mcc_ci": [-0.47, -0.17]}) == "its 95% interval (-0.47 to -0.17) includes 0"
    assert chance_reason({"mcc": 0.3, "mcc_ci": [None, None]}) == "its MCC has no interval"
    assert chance_reason({"mcc": None, "mcc_ci": [-0.2, 0.2], "mcc_undefined_reason": "no predicted passes"}) == \
        "its MCC is undefined (no predicted passes)"


def test_binary_metrics_fields():
    m = binary_metrics([True, True, False, False], [True, False, False, False], with_ci=False)
    assert m["confusion"] == {"tp": 1, "fp": 0, "fn": 1, "tn": 2}
    assert m["tpr"] == 0.5 and m["tnr"] == 1.0 and m["precision"] == 1.0
    assert m["mcc"] == pytest.approx(1 / math.sqrt(3))
    assert m["n"] == 4 and m["n_fail"] == 2 and m["n_pass"] == 2


def test_binary_metrics_of_shares_over_cv_repeats():
    # Row 2 was predicted fail in one repeat of two: half a TP, half an FN.
    m = binary_metrics([True, True, False, False], [1.0, 0.5, 0.0, 0.0], with_ci=False)
    assert m["confusion"] == {"tp": 1.5, "fp": 0, "fn": 0.5, "tn": 2}
    assert m["tpr"] == 0.75 and m["n"] == 4
    assert m["mcc"] == pytest.approx((1.5 * 2) / math.sqrt(1.5 * 2 * 2 * 2.5))


def test_rogan_gladen_hand_computed():
    # (0.3 + 0.9 - 1) / (0.8 + 0.9 - 1) = 0.2 / 0.7
    result = rogan_gladen(0.3, 100, tpr=0.8, tnr=0.9)
    assert result["estimate"] == pytest.approx(0.285714, abs=1e-6)
    # Wilson 95% interval of 30/100 is [0.2189, 0.3958]; corrected: (x - 0.1) / 0.7
    low, high = result["ci"]
    assert low == pytest.approx((0.21895 - 0.1) / 0.7, abs=1e-3)
    assert high == pytest.approx((0.39586 - 0.1) / 0.7, abs=1e-3)


def test_rogan_gladen_interval_widens_with_the_uncertainty_of_tpr_and_tnr():
    known = rogan_gladen(0.3, 1000, tpr=0.8, tnr=0.9)
    few = rogan_gladen(0.3, 1000, tpr=0.8, tnr=0.9, labelled_fail=10, labelled_pass=10)
    many = rogan_gladen(0.3, 1000, tpr=0.8, tnr=0.9, labelled_fail=5000, labelled_pass=5000)
    assert few["estimate"] == known["estimate"] == many["estimate"] == pytest.approx(0.2 / 0.7)
    width = {name: r["ci"][1] - r["ci"][0] for name, r in (("known", known), ("few", few), ("many", many))}
    assert width["few"] > 3 * width["known"]
    assert width["many"] == pytest.approx(width["known"], rel=0.25)  # well measured: close to "known"
    assert few["ci"][0] < few["estimate"] < few["ci"][1] and "10 labelled failures" in few["ci_method"]
    # A perfect score on 8 labels is not certainty: the interval still opens below a perfect evaluator's.
    perfect = rogan_gladen(0.3, 1000, tpr=1.0, tnr=1.0, labelled_fail=8, labelled_pass=8)
    assert perfect["estimate"] == pytest.approx(0.3) and perfect["ci"][1] - perfect["ci"][0] > 0.1
    # Deterministic for a seed.
    assert rogan_gladen(0.3, 1000, tpr=0.8, tnr=0.9, labelled_fail=10, labelled_pass=10) == few


def test_rogan_gladen_clips_and_refuses_chance_evaluators():
    assert rogan_gladen(0.05, 100, tpr=0.9, tnr=0.8)["estimate"] == 0.0
    assert rogan_gladen(0.99, 100, tpr=0.9, tnr=0.95)["estimate"] == 1.0
    undefined = rogan_gladen(0.3, 100, tpr=0.5, tnr=0.5)
    assert undefined["estimate"] is None and "chance" in undefined["reason"]


def test_best_threshold_finds_the_separating_cut():
    actual = np.array([False, False, False, True, True, True])
    scores = np.array([0.1, 0.2, 0.35, 0.6, 0.7, 0.9])
    threshold, value = best_threshold(actual, scores)
    assert value == pytest.approx(1.0)
    assert 0.35 < threshold <= 0.6


@pytest.mark.parametrize("rate", [-0.01, 1.01])
def test_rogan_gladen_refuses_a_rate_outside_zero_to_one(rate):
    with pytest.raises(ValueError, match="observed_rate must lie in"):
        rogan_gladen(rate, 100, tpr=0.8, tnr=0.9)


def test_best_threshold_places_the_cut_halfway_below_the_last_score_kept():
    actual = np.array([False, False, False, True, True, True])
    scores = np.array([0.1, 0.2, 0.35, 0.6, 0.7, 0.9])
    assert best_threshold(actual, scores) == (pytest.approx(0.475), pytest.approx(1.0))


def test_best_threshold_breaks_ties_towards_the_middle_run():
    # Sorted by score: fail, fail, pass, fail, pass, pass. Cutting after the 2nd or after the 4th
    # both reach MCC 6 / sqrt(72); the later one is the middle of the tied list [2nd, 4th].
    actual = np.array([True, True, False, True, False, False])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    threshold, value = best_threshold(actual, scores)
    assert value == pytest.approx(6 / math.sqrt(72))
    assert threshold == pytest.approx(0.55)


def brute_force_threshold(actual, scores):
    """Second implementation: try every cut between distinct scores, keep the middle of the best ones."""
    distinct = sorted(set(scores.tolist()), reverse=True)
    results = []
    for i, cut in enumerate(distinct):
        value, _ = mcc(Confusion.of(actual, scores >= cut))
        lower = distinct[i + 1] if i + 1 < len(distinct) else cut - 1e-6
        results.append((-1.0 if value is None else value, (cut + lower) / 2))
    best = max(v for v, _ in results)
    ties = [t for v, t in results if v >= best - 1e-12]
    return ties[len(ties) // 2], best


@pytest.mark.parametrize("seed", range(6))
def test_best_threshold_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    actual = rng.random(40) < 0.4
    scores = np.round(np.where(actual, rng.random(40) * 0.7 + 0.3, rng.random(40) * 0.7), 1)  # many ties
    threshold, value = best_threshold(actual, scores)
    ref_threshold, ref_value = brute_force_threshold(actual, scores)
    assert threshold == pytest.approx(ref_threshold) and value == pytest.approx(ref_value)
    # The cut keeps what it promises: predicting fail at >= threshold reaches that MCC.
    assert mcc(Confusion.of(actual, scores >= threshold))[0] == pytest.approx(value)


def test_best_threshold_without_both_labels_is_a_neutral_default():
    assert best_threshold(np.array([True, True, True]), np.array([0.2, 0.5, 0.9])) == (0.5, 0.0)
