"""The issue state machine: the one place that says which state changes are allowed, and by whom.

States
======
``new``         first seen within the last 7 days (the "new" window)
``ongoing``     a known, live failure mode
``escalating``  its occurrence rate is significantly above its own baseline right now
``resolved``    a person says it is fixed (note required: what was fixed, which release)
``regressed``   it occurred again after it was resolved
``ignored``     a person decided not to track it (its evaluators stop; history is kept)

Actors
======
``user``    a person, from the board or the API
``system``  the worker, acting on data (age, occurrence rate, new occurrences)

Transition table (from -> to: who, reason required?)
====================================================
======================  ======  ===============  =====================================
from -> to              actor   reason required  meaning
======================  ======  ===============  =====================================
new -> ongoing          user    no               triage: acknowledged, being worked on
new -> ongoing          system  yes              aged out of the 7-day "new" window
new -> escalating       system  yes              rate spike while still new
new -> resolved         user    yes              fixed
new -> ignored          user    yes              not worth tracking
ongoing -> escalating   system  yes              rate spike
ongoing -> resolved     user    yes              fixed
ongoing -> ignored      user    yes              not worth tracking
escalating -> ongoing   system  yes              rate back to normal
escalating -> resolved  user    yes              fixed
escalating -> ignored   user    yes              not worth tracking
resolved -> ongoing     user    no               reopen: the fix did not hold
resolved -> regressed   system  yes              new occurrence after the resolution time
resolved -> ignored     user    yes              no longer worth tracking
regressed -> ongoing    user    no               regression acknowledged, being worked on
regressed -> resolved   user    yes              fixed again
regressed -> ignored    user    yes              not worth tracking
ignored -> ongoing      user    no               track it again
ignored -> resolved     user    yes              it got fixed anyway
======================  ======  ===============  =====================================

Everything else is refused, including staying in the same state. The choices behind it:

- Nothing enters ``new``: it is only the state an issue is born in.
- ``escalating`` and ``regressed`` are facts about the data, so only the system sets
  them; and a person cannot move ``escalating`` back to ``ongoing`` by hand, because the
  next rate check would escalate it again — they resolve or ignore it instead.
- ``regressed`` is sticky for the system (no escalation over it): a regression needs a
  person to look at it, and escalating would bury that signal.
- The system never touches ``ignored`` or ``resolved`` issues except for the one
  regression rule, and never resolves anything: "fixed" is a person's claim.
- Reasons: the system must always say why (it is shown on the timeline); a person
  must explain resolving (what was fixed, which release) and ignoring (why it does not
  matter); the other human moves may carry an optional note.

The ``state_*`` helpers are the pure rules the worker applies; each returns either the
unchanged state or a target the table allows for the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    NEW = "new"
    ONGOING = "ongoing"
    ESCALATING = "escalating"
    RESOLVED = "resolved"
    REGRESSED = "regressed"
    IGNORED = "ignored"


class Actor(StrEnum):
    USER = "user"
    SYSTEM = "system"


NEW_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Transition:
    from_state: State
    to_state: State
    actor: Actor
    needs_reason: bool
    meaning: str


def _user(from_state: State, to_state: State, meaning: str, needs_reason: bool = False) -> Transition:
    return Transition(from_state, to_state, Actor.USER, needs_reason, meaning)


def _system(from_state: State, to_state: State, meaning: str) -> Transition:
    return Transition(from_state, to_state, Actor.SYSTEM, True, meaning)


def _resolve(from_state: State) -> Transition:
    return _user(from_state, State.RESOLVED, "fixed", needs_reason=True)


def _ignore(from_state: State) -> Transition:
    return _user(from_state, State.IGNORED, "not worth tracking", needs_reason=True)


TRANSITIONS: tuple[Transition, ...] = (
    _user(State.NEW, State.ONGOING, "triage: acknowledged, being worked on"),
    _system(State.NEW, State.ONGOING, "aged out of the new window"),
    _system(State.NEW, State.ESCALATING, "rate spike while still new"),
    _resolve(State.NEW),
    _ignore(State.NEW),
    _system(State.ONGOING, State.ESCALATING, "rate spike"),
    _resolve(State.ONGOING),
    _ignore(State.ONGOING),
    _system(State.ESCALATING, State.ONGOING, "rate back to normal"),
    _resolve(State.ESCALATING),
    _ignore(State.ESCALATING),
    _user(State.RESOLVED, State.ONGOING, "reopen: the fix did not hold"),
    _system(State.RESOLVED, State.REGRESSED, "new occurrence after the resolution time"),
    _ignore(State.RESOLVED),
    _user(State.REGRESSED, State.ONGOING, "regression acknowledged, being worked on"),
    _user(State.REGRESSED, State.RESOLVED, "fixed again", needs_reason=True),
    _ignore(State.REGRESSED),
    _user(State.IGNORED, State.ONGOING, "track it again"),
    _user(State.IGNORED, State.RESOLVED, "it got fixed anyway", needs_reason=True),
)
_BY_KEY = {(t.from_state, t.to_state, t.actor): t for t in TRANSITIONS}


class TransitionError(Exception):
    def __init__(self, message: str, from_state: State, to_state: State, actor: Actor) -> None:
        super().__init__(message)
        self.from_state = from_state
        self.to_state = to_state
        self.actor = actor


class IllegalTransition(TransitionError):
    """The move is not in the table for this actor; ``allowed`` lists what is (for a 409)."""

    def __init__(self, from_state: State, to_state: State, actor: Actor) -> None:
        self.allowed = allowed_targets(from_state, actor)
        listed = ", ".join(self.allowed) or "none"
        super().__init__(
            f"{actor} cannot move an issue from {from_state} to {to_state}; allowed: {listed}",
            from_state,
            to_state,
            actor,
        )


class ReasonRequired(TransitionError):
    """The move is allowed but needs a note (e.g. what was fixed); a 422, not a 409."""

    def __init__(self, transition: Transition) -> None:
        super().__init__(
            f"moving an issue from {transition.from_state} to {transition.to_state} needs a reason",
            transition.from_state,
            transition.to_state,
            transition.actor,
        )


def allowed_targets(from_state: State | str, actor: Actor | str) -> tuple[State, ...]:
    """Target states ``actor`` may move an issue to from ``from_state``, in declaration order."""
    from_state, actor = State(from_state), Actor(actor)
    return tuple(to for to in State if (from_state, to, actor) in _BY_KEY)


def check_transition(
    from_state: State | str, to_state: State | str, actor: Actor | str, reason: str | None = None
) -> None:
    """Raise unless ``actor`` may move an issue from ``from_state`` to ``to_state`` with ``reason``.

    Unknown state or actor names raise ``ValueError`` (bad input, not an illegal move).
    """
    from_state, to_state, actor = State(from_state), State(to_state), Actor(actor)
    transition = _BY_KEY.get((from_state, to_state, actor))
    if transition is None:
        raise IllegalTransition(from_state, to_state, actor)
    if transition.needs_reason and not (reason and reason.strip()):
        raise ReasonRequired(transition)


def state_after_occurrence(state: State | str, resolved_at: datetime | None, occurred_at: datetime) -> State:
    """A resolved issue regresses on an occurrence strictly after its resolution time.

    Occurrences dated before the resolution (late annotations, backfilled evaluator runs
    over old traces) are not regressions: they happened before the fix.
    """
    state = State(state)
    if state is not State.RESOLVED:
        return state
    if resolved_at is None:
        raise ValueError("a resolved issue needs its resolution time")
    return State.REGRESSED if occurred_at > resolved_at else state


def state_for_rate(state: State | str, escalating: bool) -> State:
    """Apply the escalation detector's verdict; only new/ongoing/escalating issues follow it."""
    state = State(state)
    if escalating and state in (State.NEW, State.ONGOING):
        return State.ESCALATING
    if not escalating and state is State.ESCALATING:
        return State.ONGOING
    return state


def state_for_age(
    state: State | str, first_seen: datetime, now: datetime, new_window: timedelta = NEW_WINDOW
) -> State:
    """A new issue becomes ongoing once it was first seen ``new_window`` or longer ago."""
    state = State(state)
    if state is State.NEW and now - first_seen >= new_window:
        return State.ONGOING
    return state
