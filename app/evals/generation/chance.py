"""The one rule for "no better than chance" (no numpy: the web process reads it too).

An evaluator is no better than chance when its MCC is undefined (with both labels
present, it predicts one class only) or its 95% interval reaches 0. Such an
evaluator may not gate a release, is not activated unless someone insists, and
`sextant evals fit` exits 3 for it unless `--allow-weak`.
"""

from __future__ import annotations

from typing import Any, Mapping


def chance_reason(metrics: Mapping[str, Any]) -> str | None:
    """Why an evaluator is no better than chance, in words; None when it is better.

    `metrics`: {"mcc", "mcc_ci": [low, high], "mcc_undefined_reason"?}.
    """
    if metrics.get("mcc") is None:
        why = metrics.get("mcc_undefined_reason")
        return f"its MCC is undefined ({why})" if why else "its MCC is undefined"
    low, high = (list(metrics.get("mcc_ci") or []) + [None, None])[:2]
    if low is None or high is None:
        return "its MCC has no interval"
    if low <= 0:
        return f"its 95% interval ({low:.2f} to {high:.2f}) includes 0"
    return None
