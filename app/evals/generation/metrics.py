"""Agreement figures computed from the confusion matrix, never from a library.

"fail" is the positive class throughout: a true positive is a trace people
failed and the evaluator failed too. MCC is undefined when a row or column of
the confusion matrix is empty; scikit-learn quietly returns 0 there, which
would show a broken evaluator as merely useless, so we say "undefined" and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, actual_fail: Sequence[bool], predicted_fail: Sequence[bool]) -> "Confusion":
        actual = np.asarray(actual_fail, dtype=bool)
        predicted = np.asarray(predicted_fail, dtype=bool)
        if actual.shape != predicted.shape:
            raise ValueError("actual and predicted labels differ in length")
        return cls(
            tp=int(np.sum(actual & predicted)),
            fp=int(np.sum(~actual & predicted)),
            fn=int(np.sum(actual & ~predicted)),
            tn=int(np.sum(~actual & ~predicted)),
        )

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def as_dict(self) -> dict[str, int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}


def _confusion(value: Confusion | Mapping[str, Any]) -> Confusion:
    if isinstance(value, Confusion):
        return value
    return Confusion(int(value["tp"]), int(value["fp"]), int(value["fn"]), int(value["tn"]))


def mcc(confusion: Confusion | Mapping[str, Any]) -> tuple[float | None, str | None]:
    """Matthews correlation: (value, None), or (None, reason) when undefined."""
    c = _confusion(confusion)
    reason = undefined_reason(c)
    if reason:
        return None, reason
    numerator = c.tp * c.tn - c.fp * c.fn
    # Products of Python ints: exact, no overflow on big counts.
    denominator = math.sqrt((c.tp + c.fp) * (c.tp + c.fn) * (c.tn + c.fp) * (c.tn + c.fn))
    return numerator / denominator, None


def undefined_reason(c: Confusion) -> str | None:
    reasons = []
    if c.n == 0:
        return "no examples"
    if c.tp + c.fn == 0:
        reasons.append("no actual failures")
    if c.tn + c.fp == 0:
        reasons.append("no actual passes")
    if c.tp + c.fp == 0:
        reasons.append("no predicted failures")
    if c.tn + c.fn == 0:
        reasons.append("no predicted passes")
    return ", ".join(reasons) or None


def _vector_mcc(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """MCC of many confusion matrices at once; NaN where undefined."""
    tp, fp, fn, tn = (np.asarray(a, dtype=float) for a in (tp, fp, fn, tn))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (tp * tn - fp * fn) / denominator
    return np.where(denominator > 0, value, np.nan)


def bootstrap_ci(
    actual_fail: Sequence[bool],
    predicted_fail: Sequence[bool],
    *,
    groups: Sequence[Any] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float | None, float | None]:
    """Percentile CI of MCC under a bootstrap stratified by actual label.

    With `groups`, whole groups are resampled (a cluster bootstrap) within two
    strata: groups holding at least one failure, and groups without. Near-
    duplicate traces of one group would otherwise count as independent
    evidence and shrink the interval. Replicates where MCC is undefined are
    dropped; if more than half are, there is no interval: (None, None).
    """
    actual = np.asarray(actual_fail, dtype=bool)
    predicted = np.asarray(predicted_fail, dtype=bool)
    rng = np.random.default_rng(seed)
    if groups is None:
        groups = np.arange(len(actual))
    _, group_index = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    n_groups = int(group_index.max()) + 1 if len(actual) else 0
    # Per-group confusion counts, shape (n_groups, 4): tp, fp, fn, tn.
    cells = np.stack([actual & predicted, ~actual & predicted, actual & ~predicted, ~actual & ~predicted], axis=1)
    per_group = np.zeros((n_groups, 4))
    np.add.at(per_group, group_index, cells.astype(float))
    has_fail = (per_group[:, 0] + per_group[:, 2]) > 0
    totals = np.zeros((n_boot, 4))
    for stratum in (has_fail, ~has_fail):
        members = per_group[stratum]
        if len(members) == 0:
            continue
        counts = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=n_boot)
        totals += counts @ members
    values = _vector_mcc(*totals.T)
    values = values[~np.isnan(values)]
    if len(values) < n_boot / 2:
        return None, None
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def binary_metrics(
    actual_fail: Sequence[bool],
    predicted_fail: Sequence[bool],
    *,
    groups: Sequence[Any] | None = None,
    seed: int = 0,
    with_ci: bool = True,
) -> dict[str, Any]:
    """MCC (+ reason when undefined, + bootstrap CI), TPR, TNR, precision, confusion, n."""
    c = Confusion.of(actual_fail, predicted_fail)
    value, reason = mcc(c)
    low, high = bootstrap_ci(actual_fail, predicted_fail, groups=groups, seed=seed) if with_ci else (None, None)
    return {
        "mcc": value,
        "mcc_undefined_reason": reason,
        "mcc_ci": [low, high],
        "tpr": _ratio(c.tp, c.tp + c.fn),
        "tnr": _ratio(c.tn, c.tn + c.fp),
        "precision": _ratio(c.tp, c.tp + c.fp),
        "confusion": c.as_dict(),
        "n": c.n,
        "n_fail": c.tp + c.fn,
        "n_pass": c.tn + c.fp,
    }


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def rogan_gladen(
    observed_rate: float, n: int, tpr: float, tnr: float, *, level: float = 0.95,
    labelled_fail: int | None = None, labelled_pass: int | None = None, draws: int = 4000, seed: int = 0,
) -> dict[str, Any]:
    """True failure rate estimated from an imperfect evaluator's observed rate.

    estimate = (observed + TNR - 1) / (TPR + TNR - 1), clipped to [0, 1]. With
    TPR + TNR <= 1 the evaluator is no better than chance and the estimate is undefined.

    The CI: when the numbers of labelled failures and passes that TPR and TNR were
    measured on are given, it carries their uncertainty too, which on a few dozen
    held-out labels is often the larger part. Observed rate, TPR and TNR are drawn
    from their Jeffreys posteriors (Beta(k + 1/2, n - k + 1/2)), each draw is
    corrected, and the interval is the central `level` of the corrected draws
    (draws no better than chance are left out). Without those counts, TPR and TNR
    are taken as known and the Wilson interval of the observed rate is mapped
    through the correction (narrower: it ignores their error).
    """
    if not 0 <= observed_rate <= 1:
        raise ValueError("observed_rate must lie in [0, 1]")
    youden = tpr + tnr - 1
    if youden <= 0:
        return {"estimate": None, "ci": [None, None], "reason": "evaluator no better than chance (TPR + TNR <= 1)"}
    if n <= 0:
        return {"estimate": None, "ci": [None, None], "reason": "no traces observed"}
    estimate = float(np.clip((observed_rate + tnr - 1) / youden, 0.0, 1.0))
    if not labelled_fail or not labelled_pass:
        low, high = wilson_interval(observed_rate, n, level)
        ci = np.clip((np.array([low, high]) + tnr - 1) / youden, 0.0, 1.0)
        return {"estimate": estimate, "ci": [float(ci[0]), float(ci[1])], "reason": None,
                "ci_method": "Wilson interval of the observed rate; TPR and TNR taken as known"}
    rng = np.random.default_rng(seed)

    def posterior(rate: float, count: int) -> np.ndarray:
        hits = rate * count
        return rng.beta(hits + 0.5, count - hits + 0.5, size=draws)

    observed, sensitivity, specificity = posterior(observed_rate, n), posterior(tpr, labelled_fail), \
        posterior(tnr, labelled_pass)
    j = sensitivity + specificity - 1
    usable = j > 0
    if usable.mean() < 0.5:
        return {"estimate": estimate, "ci": [None, None],
                "reason": "TPR and TNR are too uncertain to bound the rate (often no better than chance)"}
    corrected = np.clip((observed[usable] + specificity[usable] - 1) / j[usable], 0.0, 1.0)
    tail = (1 - level) / 2
    low, high = np.quantile(corrected, [tail, 1 - tail])
    return {"estimate": estimate, "ci": [float(low), float(high)], "reason": None,
            "ci_method": f"carries the uncertainty of TPR ({labelled_fail} labelled failures) and "
                         f"TNR ({labelled_pass} labelled passes)"}


def wilson_interval(rate: float, n: int, level: float = 0.95) -> tuple[float, float]:
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def best_threshold(actual_fail: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Score threshold (predict fail when score >= threshold) maximising MCC, and that MCC.

    Every distinct score is tried at once from cumulative counts. Ties are
    broken towards the middle of the best run of thresholds, which is less
    brittle than its edge.
    """
    actual = np.asarray(actual_fail, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_actual = scores[order], actual[order]
    # Cut only between distinct scores: the last index of every run of equal scores.
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    tp = np.cumsum(sorted_actual)[last_of_run]
    fp = np.cumsum(~sorted_actual)[last_of_run]
    n_fail, n_pass = int(actual.sum()), int((~actual).sum())
    values = _vector_mcc(tp, fp, n_fail - tp, n_pass - fp)
    if np.all(np.isnan(values)):
        return 0.5, 0.0
    values = np.nan_to_num(values, nan=-1.0)
    best = np.flatnonzero(values >= values.max() - 1e-12)
    pick = best[len(best) // 2]
    cut_scores = sorted_scores[last_of_run]
    # Put the threshold halfway to the next lower score, so new data just below the cut stays below.
    lower = cut_scores[pick + 1] if pick + 1 < len(cut_scores) else cut_scores[pick] - 1e-6
    return float((cut_scores[pick] + lower) / 2), float(values.max())
