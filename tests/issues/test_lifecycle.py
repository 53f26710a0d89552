from datetime import datetime, timedelta
from itertools import product

import pytest

from app.issues.lifecycle import (
    TRANSITIONS,
    IllegalTransition,
    ReasonRequired,
    State,
    allowed_targets,
    check_transition,
    state_after_occurrence,
    state_for_age,
    state_for_rate,
)

STATES = ["new", "ongoing", "escalating", "resolved", "regressed", "ignored"]
ACTORS = ["user", "system"]

# The specification, written out by hand: (from, to, actor) -> a reason is required.
EXPECTED = {
    ("new", "ongoing", "user"): False,
    ("new", "ongoing", "system"): True,
    ("new", "escalating", "system"): True,
    ("new", "resolved", "user"): True,
    ("new", "ignored", "user"): True,
    ("ongoing", "escalating", "system"): True,
    ("ongoing", "resolved", "user"): True,
    ("ongoing", "ignored", "user"): True,
    ("escalating", "ongoing", "system"): True,
    ("escalating", "resolved", "user"): True,
    ("escalating", "ignored", "user"): True,
    ("resolved", "ongoing", "user"): False,
    ("resolved", "regressed", "system"): True,
    ("resolved", "ignored", "user"): True,
    ("regressed", "ongoing", "user"): False,
    ("regressed", "resolved", "user"): True,
    ("regressed", "ignored", "user"): True,
    ("ignored", "ongoing", "user"): False,
    ("ignored", "resolved", "user"): True,
}

T0 = datetime(2025, 3, 1, 12, 0)


@pytest.mark.parametrize(("from_state", "to_state", "actor"), list(product(STATES, STATES, ACTORS)))
def test_every_transition_follows_the_table(from_state, to_state, actor):
    key = (from_state, to_state, actor)
    if key not in EXPECTED:
        with pytest.raises(IllegalTransition) as refused:
            check_transition(from_state, to_state, actor, reason="because")
        expected_allowed = [to for to in STATES if (from_state, to, actor) in EXPECTED]
        assert list(refused.value.allowed) == expected_allowed
        assert (refused.value.from_state, refused.value.to_state, refused.value.actor) == key
        return
    check_transition(from_state, to_state, actor, reason="because")
    if EXPECTED[key]:
        for missing in (None, "", "   "):
            with pytest.raises(ReasonRequired):
                check_transition(from_state, to_state, actor, reason=missing)
    else:
        check_transition(from_state, to_state, actor, reason=None)


@pytest.mark.parametrize(("from_state", "actor"), list(product(STATES, ACTORS)))
def test_allowed_targets_list_exactly_the_permitted_moves(from_state, actor):
    expected = tuple(to for to in STATES if (from_state, to, actor) in EXPECTED)
    assert allowed_targets(from_state, actor) == expected


def test_the_table_has_no_duplicate_or_extra_rows():
    keys = [(t.from_state, t.to_state, t.actor) for t in TRANSITIONS]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(EXPECTED)


def test_refusal_message_lists_the_allowed_targets():
    with pytest.raises(IllegalTransition, match="allowed: ongoing, ignored$"):
        check_transition("resolved", "escalating", "user")
    with pytest.raises(IllegalTransition, match="allowed: none"):
        check_transition("ignored", "ongoing", "system", reason="x")


def test_unknown_names_are_bad_input_not_illegal_moves():
    with pytest.raises(ValueError):
        check_transition("open", "resolved", "user", reason="x")
    with pytest.raises(ValueError):
        check_transition("new", "resolved", "robot", reason="x")
    assert not issubclass(IllegalTransition, ValueError)


# --- the system's rules --------------------------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_occurrence_after_resolution_regresses_only_resolved_issues(state):
    resolved_at = T0
    after = state_after_occurrence(state, resolved_at, T0 + timedelta(seconds=1))
    assert after == ("regressed" if state == "resolved" else state)


@pytest.mark.parametrize("occurred_at", [T0 - timedelta(days=1), T0])
def test_occurrence_not_after_resolution_is_no_regression(occurred_at):
    assert state_after_occurrence("resolved", T0, occurred_at) == State.RESOLVED


def test_resolved_issue_without_resolution_time_is_an_error():
    with pytest.raises(ValueError):
        state_after_occurrence("resolved", None, T0)


@pytest.mark.parametrize(
    ("state", "escalating", "expected"),
    [
        ("new", True, "escalating"),
        ("ongoing", True, "escalating"),
        ("escalating", True, "escalating"),
        ("resolved", True, "resolved"),
        ("regressed", True, "regressed"),
        ("ignored", True, "ignored"),
        ("new", False, "new"),
        ("ongoing", False, "ongoing"),
        ("escalating", False, "ongoing"),
        ("resolved", False, "resolved"),
        ("regressed", False, "regressed"),
        ("ignored", False, "ignored"),
    ],
)
def test_rate_moves_only_active_issues(state, escalating, expected):
    assert state_for_rate(state, escalating) == expected


@pytest.mark.parametrize(
    ("state", "age", "expected"),
    [
        ("new", timedelta(days=6, hours=23), "new"),
        ("new", timedelta(days=7), "ongoing"),
        ("new", timedelta(days=30), "ongoing"),
        ("escalating", timedelta(days=30), "escalating"),
        ("resolved", timedelta(days=30), "resolved"),
        ("ignored", timedelta(days=30), "ignored"),
    ],
)
def test_new_issues_age_into_ongoing_after_the_window(state, age, expected):
    assert state_for_age(state, first_seen=T0, now=T0 + age) == expected


def test_new_window_is_a_parameter():
    assert state_for_age("new", T0, T0 + timedelta(days=2), new_window=timedelta(days=1)) == "ongoing"


@pytest.mark.parametrize("state", STATES)
def test_every_move_the_system_rules_make_is_allowed_for_the_system(state):
    later = T0 + timedelta(days=30)
    moves = {
        state_after_occurrence(state, T0, later),
        state_for_rate(state, True),
        state_for_rate(state, False),
        state_for_age(state, T0, later),
    } - {state}
    for to_state in moves:
        check_transition(state, to_state, "system", reason="rule")
