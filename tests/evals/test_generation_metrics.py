import math

import numpy as np
import pytest

from app.evals.generation import Confusion, bootstrap_ci, mcc, rogan_gladen
from app.evals.generation.metrics import best_threshold, binary_metrics


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


def test_bootstrap_ci_of_perfect_predictions_is_a_point():
    actual = [True] * 10 + [False] * 10
    assert bootstrap_ci(actual, actual, seed=1) == (1.0, 1.0)


def test_bootstrap_ci_undefined_when_nothing_predicted_fail():
    actual = [True] * 10 + [False] * 10
    assert bootstrap_ci(actual, [False] * 20) == (None, None)


def test_bootstrap_ci_brackets_the_estimate_and_groups_widen_it():
    rng = np.random.default_rng(0)
    actual = rng.random(120) < 0.4
    predicted = np.where(rng.random(120) < 0.8, actual, ~actual)
    value, _ = mcc(Confusion.of(actual, predicted))
    low, high = bootstrap_ci(actual, predicted, seed=3)
    assert low < value < high
    # Four identical copies of every example: as independent rows they look like 4x the evidence.
    copies = np.repeat(actual, 4), np.repeat(predicted, 4)
    naive = bootstrap_ci(*copies, seed=3)
    grouped = bootstrap_ci(*copies, groups=np.repeat(np.arange(120), 4), seed=3)
    assert (grouped[1] - grouped[0]) > 1.5 * (naive[1] - naive[0])


def test_binary_metrics_fields():
    m = binary_metrics([True, True, False, False], [True, False, False, False], with_ci=False)
    assert m["confusion"] == {"tp": 1, "fp": 0, "fn": 1, "tn": 2}
    assert m["tpr"] == 0.5 and m["tnr"] == 1.0 and m["precision"] == 1.0
    assert m["mcc"] == pytest.approx(1 / math.sqrt(3))
    assert m["n"] == 4


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
