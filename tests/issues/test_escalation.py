from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pytest

from app.issues.escalation import EscalationParams, detect_escalation, detect_escalation_hourly

# A Monday, mid-morning; the clock is always passed explicitly.
NOW = datetime(2025, 3, 17, 9, 30)
HOUR = timedelta(hours=1)

# Calibration settings: only the p-value decides, so the false-alarm rate can be compared with it.
P_ONLY = EscalationParams(p_threshold=0.05, min_count=0, min_ratio=1.0)
FLAT_ONLY = EscalationParams(
    p_threshold=0.05, min_count=0, min_ratio=1.0, seasonal_min_baseline=timedelta(days=10_000)
)


def hourly_series(rate_per_hour, seed, now, days=29):
    """Poisson counts per clock hour for the `days` before `now`; rate_per_hour(weekday, hour) arrays."""
    rng = np.random.default_rng(seed)
    start = now.replace(minute=0) - timedelta(days=days)
    elapsed = start.hour + np.arange(days * 24)
    weekday = (start.weekday() + elapsed // 24) % 7
    counts = rng.poisson(rate_per_hour(weekday, elapsed % 24))
    return {start + i * HOUR: int(c) for i, c in enumerate(counts) if c}


def flat(weekday, hour):
    return np.full(weekday.shape, 1.0)


def office_hours(weekday, hour):
    """Busy on weekday working hours, quiet at night and on weekends."""
    day = np.where(weekday >= 5, 0.3, 1.0)
    time_of_day = np.where((hour >= 9) & (hour < 18), 2.0, 0.3)
    return 2 * day * time_of_day


def false_alarm_rate(rate_per_hour, params, n=500):
    # Each seed gets a clock 7 h later than the previous one, so windows cover every phase of the week.
    alarms = 0
    for seed in range(n):
        now = NOW + seed * 7 * HOUR
        alarms += detect_escalation_hourly(hourly_series(rate_per_hour, seed, now), now, params).escalating
    return alarms / n


def upper_bound(level, n):
    return level + 3 * (level * (1 - level) / n) ** 0.5


def poisson_times(rng, rate_per_hour, start, end):
    hours = int((end - start) / HOUR)
    times = []
    for i, count in enumerate(rng.poisson(rate_per_hour, size=hours)):
        times += [start + i * HOUR + timedelta(seconds=float(s)) for s in rng.uniform(0, 3600, size=count)]
    return times


# --- no alert at baseline ------------------------------------------------------------


@pytest.mark.parametrize("rate", [flat, office_hours], ids=["flat", "weekly-pattern"])
def test_false_alarm_rate_at_baseline_is_near_the_nominal_level(rate):
    assert false_alarm_rate(rate, P_ONLY) <= upper_bound(0.05, 500)


def test_a_flat_baseline_would_mistake_the_weekly_pattern_for_escalation():
    # Shows why the weekday/hour baseline exists: without it, Monday looks like a surge.
    assert false_alarm_rate(office_hours, FLAT_ONLY, n=200) > 0.15


def test_default_settings_almost_never_alert_at_baseline():
    assert false_alarm_rate(office_hours, EscalationParams()) <= 3 / 500


# --- spikes and recovery -------------------------------------------------------------


def spike_history(seed=0):
    """1/h for four weeks, then 4/h during the 24 h before NOW."""
    rng = np.random.default_rng(seed)
    spike_start = NOW.replace(minute=0) - 24 * HOUR
    return poisson_times(rng, 1.0, spike_start - timedelta(days=28), spike_start) + poisson_times(
        rng, 4.0, spike_start, NOW.replace(minute=0)
    )


def test_a_spike_escalates():
    result = detect_escalation(spike_history(), NOW)
    assert result.escalating
    assert result.observed > 70
    assert result.expected == pytest.approx(24, rel=0.25)
    assert result.p_value < 1e-10
    assert "escalating" in result.reason


def test_the_issue_recovers_when_the_rate_returns_to_normal():
    rng = np.random.default_rng(1)
    history = spike_history() + poisson_times(rng, 1.0, NOW.replace(minute=0), NOW + timedelta(days=3))
    checks = {h: detect_escalation(history, NOW + h * HOUR).escalating for h in (0, 12, 36, 48, 72)}
    assert checks == {0: True, 12: True, 36: False, 48: False, 72: False}


def test_a_quiet_issue_with_tiny_counts_does_not_alert():
    # Two occurrences in four weeks, then four today: very unlikely under the baseline,
    # but too few occurrences to page anyone.
    history = [NOW - timedelta(days=20), NOW - timedelta(days=9)]
    history += [NOW - timedelta(hours=h) for h in (2, 5, 8, 13)]
    result = detect_escalation(history, NOW)
    assert result.p_value < 0.001
    assert not result.escalating
    assert "too few" in result.reason
    assert detect_escalation(history + [NOW - 15 * HOUR], NOW).escalating


def test_a_small_relative_rise_is_not_an_escalation_even_if_significant():
    rng = np.random.default_rng(2)
    end = NOW.replace(minute=0)
    history = poisson_times(rng, 50.0, end - timedelta(days=29), end - 24 * HOUR)
    history += poisson_times(rng, 60.0, end - 24 * HOUR, end)
    params = EscalationParams(seasonal_min_baseline=timedelta(days=10_000))
    result = detect_escalation(history, NOW, params)
    assert result.p_value < 0.001
    assert not result.escalating
    assert "1.5x" in result.reason


# --- history and inputs --------------------------------------------------------------


def test_a_brand_new_issue_has_no_baseline_to_escalate_from():
    history = [NOW - timedelta(hours=h) for h in range(1, 11)]
    result = detect_escalation(history, NOW)
    assert not result.escalating
    assert (result.observed, result.expected, result.p_value) == (10, None, None)
    assert "history" in result.reason


def test_quiet_tracked_weeks_count_as_baseline():
    history = [NOW - timedelta(hours=h) for h in range(1, 11)]
    result = detect_escalation(history, NOW, tracked_since=NOW - timedelta(days=30))
    assert result.escalating
    assert result.expected == 0


def test_no_occurrences_at_all():
    result = detect_escalation([], NOW)
    assert (result.escalating, result.observed, result.reason) == (False, 0, "no occurrences")


def test_the_unfinished_hour_is_not_counted_yet():
    history = spike_history()
    in_current_hour = [NOW.replace(minute=0) + timedelta(minutes=m) for m in range(5, 25)]
    with_current_hour = detect_escalation(history + in_current_hour, NOW)
    assert with_current_hour.observed == detect_escalation(history, NOW).observed


def test_hourly_counts_and_timestamps_give_the_same_answer():
    history = spike_history()
    hourly = Counter(t.replace(minute=0, second=0, microsecond=0) for t in history)
    assert detect_escalation_hourly(hourly, NOW) == detect_escalation(history, NOW)


def test_window_and_thresholds_are_parameters():
    history = spike_history()
    assert not detect_escalation(history, NOW, EscalationParams(min_count=1000)).escalating
    # A 6 h window sees only the last quarter of the spike; still far above 6 expected.
    six_hours = detect_escalation(history, NOW, EscalationParams(window=6 * HOUR))
    assert six_hours.escalating
    assert six_hours.observed < 40


@pytest.mark.parametrize(
    "bad",
    [dict(window=timedelta(minutes=90)), dict(baseline=timedelta(0)), dict(p_threshold=0)],
)
def test_invalid_parameters_are_rejected(bad):
    with pytest.raises(ValueError):
        EscalationParams(**bad)
