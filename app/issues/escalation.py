"""Escalation detector: is an issue occurring significantly more often than it usually does?

Pure: the caller passes the issue's occurrence times (or hourly counts) and the clock.

The test
========
Counts are taken per clock hour. The *window* is the last ``window`` of completed hours
before ``now`` (default 24 h; the unfinished current hour is left out, as a part-hour
would be compared with a whole hour's expectation). The *baseline* is the ``baseline``
before the window (default 28 days), cut to when the issue was first tracked.

Under "nothing changed", occurrences form a Poisson process whose rate may vary with the
weekday and the hour of day, by fixed factors ``f(t)``. Then the window count X and the
baseline count Y, given their sum, follow

    X | X + Y = n  ~  Binomial(n, F_w / (F_w + F_b)),    F = sum of f(t) over the hours

— the exact conditional test for comparing two Poisson rates (Przyborowski & Wilenski,
1940). Unlike plugging the baseline's mean into a Poisson test, it accounts for the
baseline being an estimate itself, so a short or quiet baseline does not inflate false
alarms. The one-sided p-value is P(X >= observed); the *expected* count reported is
Y * F_w / F_b.

Seasonality: with at least ``seasonal_min_baseline`` of history (default 14 days, two of
each weekday) ``f`` is a weekday factor times an hour-of-day factor, each estimated from
the baseline as (observed + prior) / (expected at the flat rate + prior). The pseudo-count
``seasonal_prior`` shrinks factors towards 1 when counts are small, so a quiet Tuesday
night does not make one occurrence look like a surge. With less history, ``f`` is flat.
Weekdays and hours are those of the timestamps given (UTC in Sextant).

An issue is escalating when all of these hold:

- at least ``min_count`` occurrences in the window (default 5: 1 -> 3 pages nobody);
- at least ``min_ratio`` times the expected count (default 1.5: with a large baseline a
  tiny but "significant" rise is not worth an alert);
- p-value below ``p_threshold`` (default 0.001; the detector runs often, and real
  counts are burstier than Poisson, so the level is strict).

It falls back as soon as the window is no longer significant. A spike that has passed
moves into the baseline and raises the expectation for a while, so recovery is quick;
a lasting rise in the rate stops counting as escalation once the baseline has absorbed
it (the "new normal"). With less than ``min_baseline`` of history (default 3 days) no
decision is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from scipy.stats import binom

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class EscalationParams:
    window: timedelta = timedelta(hours=24)
    baseline: timedelta = timedelta(days=28)
    p_threshold: float = 0.001
    min_count: int = 5
    min_ratio: float = 1.5
    min_baseline: timedelta = timedelta(days=3)
    seasonal_min_baseline: timedelta = timedelta(days=14)
    seasonal_prior: float = 10.0

    def __post_init__(self) -> None:
        for name in ("window", "baseline"):
            span = getattr(self, name)
            if span < HOUR or span % HOUR:
                raise ValueError(f"{name} must be a whole number of hours, not {span}")
        if not 0 < self.p_threshold < 1:
            raise ValueError("p_threshold must be between 0 and 1")


@dataclass(frozen=True)
class EscalationResult:
    escalating: bool
    observed: int
    expected: float | None
    p_value: float | None
    seasonal: bool
    reason: str


DEFAULT_PARAMS = EscalationParams()


def detect_escalation(
    occurred_at: Iterable[datetime],
    now: datetime,
    params: EscalationParams = DEFAULT_PARAMS,
    tracked_since: datetime | None = None,
) -> EscalationResult:
    """Decide from individual occurrence times.

    ``tracked_since`` is when occurrences could first have been recorded (e.g. the issue's
    creation); before it, zero counts mean "not watched", not "did not happen". It
    defaults to the first occurrence.
    """
    return _detect([(t, 1) for t in occurred_at], now, params, tracked_since)


def detect_escalation_hourly(
    hourly_counts: Mapping[datetime, int],
    now: datetime,
    params: EscalationParams = DEFAULT_PARAMS,
    tracked_since: datetime | None = None,
) -> EscalationResult:
    """Decide from counts keyed by the start of their clock hour (e.g. SQL ``date_trunc('hour')``)."""
    return _detect(list(hourly_counts.items()), now, params, tracked_since)


def _detect(
    counted: list[tuple[datetime, int]],
    now: datetime,
    params: EscalationParams,
    tracked_since: datetime | None,
) -> EscalationResult:
    end = _floor_hour(now)
    window_start = end - params.window
    if tracked_since is None:
        seen = [t for t, count in counted if count > 0]
        if not seen:
            return EscalationResult(False, 0, None, None, False, "no occurrences")
        tracked_since = min(seen)
    start = min(window_start, max(window_start - params.baseline, _floor_hour(tracked_since)))
    counts = _hourly_array(counted, start, end)
    window_hours = params.window // HOUR
    baseline_span = window_start - start
    if baseline_span < params.min_baseline:
        return _too_little_history(int(counts[-window_hours:].sum()), baseline_span, params)
    seasonal = baseline_span >= params.seasonal_min_baseline
    if seasonal:
        weights = _seasonal_weights(counts, start, window_hours, params.seasonal_prior)
    else:
        weights = np.ones(len(counts))
    return _decide(counts, weights, window_hours, seasonal, baseline_span, params)


def _too_little_history(
    observed: int, baseline_span: timedelta, params: EscalationParams
) -> EscalationResult:
    reason = (
        f"{observed} in the last {_span_text(params.window)}, but only {_span_text(baseline_span)} "
        f"of history before it (needs {_span_text(params.min_baseline)})"
    )
    return EscalationResult(False, observed, None, None, False, reason)


def _decide(
    counts: np.ndarray,
    weights: np.ndarray,
    window_hours: int,
    seasonal: bool,
    baseline_span: timedelta,
    params: EscalationParams,
) -> EscalationResult:
    observed = int(counts[-window_hours:].sum())
    baseline_count = int(counts[:-window_hours].sum())
    window_weight = weights[-window_hours:].sum()
    baseline_weight = weights[:-window_hours].sum()
    expected = float(baseline_count * window_weight / baseline_weight)
    share = window_weight / (window_weight + baseline_weight)
    p_value = float(binom.sf(observed - 1, observed + baseline_count, share)) if observed else 1.0

    baseline_kind = "weekday/hour" if seasonal else "flat"
    figures = (
        f"{observed} in the last {_span_text(params.window)} vs {expected:.1f} expected "
        f"from the {_span_text(baseline_span)} {baseline_kind} baseline (p = {p_value:.2g})"
    )
    if observed < params.min_count:
        verdict = f"{figures}: fewer than {params.min_count} occurrences, too few to escalate"
    elif observed < params.min_ratio * expected:
        verdict = f"{figures}: less than {params.min_ratio:g}x the expected count"
    elif p_value >= params.p_threshold:
        verdict = f"{figures}: not significant at {params.p_threshold:g}"
    else:
        return EscalationResult(True, observed, expected, p_value, seasonal, f"{figures}: escalating")
    return EscalationResult(False, observed, expected, p_value, seasonal, verdict)


def _hourly_array(counted: list[tuple[datetime, int]], start: datetime, end: datetime) -> np.ndarray:
    """counts[i] = occurrences in [start + i h, start + (i + 1) h); outside [start, end) is dropped."""
    n_hours = (end - start) // HOUR
    indices, amounts = [], []
    for t, count in counted:
        index = (t - start) // HOUR
        if 0 <= index < n_hours:
            indices.append(index)
            amounts.append(count)
    return np.bincount(
        np.array(indices, dtype=int), weights=np.array(amounts, dtype=float), minlength=n_hours
    )


def _seasonal_weights(counts: np.ndarray, start: datetime, window_hours: int, prior: float) -> np.ndarray:
    """f(t) = weekday factor x hour-of-day factor, both estimated from the baseline hours only."""
    elapsed = start.hour + np.arange(len(counts))
    hour_of_day = elapsed % 24
    weekday = (start.weekday() + elapsed // 24) % 7
    baseline = counts[:-window_hours]
    flat_rate = baseline.sum() / len(baseline)
    weekday_factor = _slot_factors(baseline, weekday[: len(baseline)], 7, flat_rate, prior)
    hour_factor = _slot_factors(baseline, hour_of_day[: len(baseline)], 24, flat_rate, prior)
    return weekday_factor[weekday] * hour_factor[hour_of_day]


def _slot_factors(
    counts: np.ndarray, slots: np.ndarray, n_slots: int, flat_rate: float, prior: float
) -> np.ndarray:
    observed = np.bincount(slots, weights=counts, minlength=n_slots)
    expected_at_flat_rate = flat_rate * np.bincount(slots, minlength=n_slots)
    return (observed + prior) / (expected_at_flat_rate + prior)


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _span_text(span: timedelta) -> str:
    hours = span / HOUR
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} h"
