"""The gate's test: has an issue's true failure rate risen from baseline to candidate?

Pure numpy (loaded in the worker only). Each side's observed rate is what the
evaluator flagged; the true rate is estimated as in app/evals (Rogan–Gladen:
(observed + TNR - 1) / (TPR + TNR - 1)). The difference is judged draw by draw:

- each side's observed rate from its Jeffreys posterior, Beta(k + 1/2, n - k + 1/2),
  so both sample sizes count;
- TPR and TNR from their Jeffreys posteriors on the held-out label counts, the
  *same* draw used for both sides (one evaluator judged both), so the evaluator's
  own error widens the interval as far as it really moves the difference;
- each draw corrected, the difference taken; draws where TPR + TNR <= 1 (no better
  than chance) are left out.

The interval is the central `level` of the differences. An issue regresses when the
interval's lower end lies above the allowed increase: at 95%, the chance of calling
a regression when the rise is at most the allowance is at most about 2.5%.
"""

from __future__ import annotations

import numpy as np

DRAWS = 20_000
LEVEL = 0.95


def _beta(rng: np.random.Generator, hits: float, count: float, draws: int) -> np.ndarray:
    return rng.beta(hits + 0.5, count - hits + 0.5, size=draws)


def corrected(observed: np.ndarray | float, tpr: np.ndarray | float, tnr: np.ndarray | float):
    return np.clip((np.asarray(observed) + tnr - 1) / (np.asarray(tpr) + tnr - 1), 0.0, 1.0)


def compare(candidate: tuple[int, int], baseline: tuple[int, int], *, tpr: float, tnr: float,
            labelled_fail: int, labelled_pass: int, max_increase: float, level: float = LEVEL,
            draws: int = DRAWS, seed: int = 0) -> dict:
    """candidate / baseline: (fails, evaluated). Returns rates, the difference with its interval,
    P(rise > allowance) and the decision (regression | ok | undecided)."""
    (k1, n1), (k0, n0) = candidate, baseline
    rng = np.random.default_rng(seed)
    sensitivity = _beta(rng, tpr * labelled_fail, labelled_fail, draws)
    specificity = _beta(rng, tnr * labelled_pass, labelled_pass, draws)
    usable = sensitivity + specificity > 1
    base = {"candidate": _side(k1, n1, tpr, tnr), "baseline": _side(k0, n0, tpr, tnr),
            "method": f"posterior of the difference of corrected rates ({draws} draws, TPR/TNR "
                      f"shared between both sides, {labelled_fail} labelled failures and "
                      f"{labelled_pass} labelled passes); regression when the {level:.0%} "
                      f"interval lies above +{max_increase:.3f}"}
    if tpr + tnr <= 1 or usable.mean() < 0.5:
        return {**base, "decision": "undecided", "difference": None, "ci": None, "p_exceeds": None,
                "reason": "TPR and TNR are too uncertain to correct the rates"}
    sensitivity, specificity = sensitivity[usable], specificity[usable]
    count = int(usable.sum())
    difference = (corrected(_beta(rng, k1, n1, count), sensitivity, specificity)
                  - corrected(_beta(rng, k0, n0, count), sensitivity, specificity))
    tail = (1 - level) / 2
    low, high = (float(q) for q in np.quantile(difference, [tail, 1 - tail]))
    point = base["candidate"]["estimate"] - base["baseline"]["estimate"]
    return {**base, "difference": point, "ci": [low, high],
            "p_exceeds": float((difference > max_increase).mean()),
            "decision": "regression" if low > max_increase else "ok", "reason": None}


def _side(fails: int, n: int, tpr: float, tnr: float) -> dict:
    observed = fails / n
    estimate = float(corrected(observed, tpr, tnr)) if tpr + tnr > 1 else None
    return {"fails": fails, "n": n, "observed": observed, "estimate": estimate}
