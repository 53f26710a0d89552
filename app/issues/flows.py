"""Orchestration around issues: people's moves, occurrences, the system's own moves.

Alerts (the session hook, notifications, webhooks) are in `alerts.py`; suggestions from
unassigned failures in `suggestions.py`. Reactions that reach other domains are in `app/loop.py`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.annotations import service as annotations
from app.audit import service as audit
from app.core.db import utcnow
from app.core.settings import issue_settings
from app.issues import lifecycle, repository, service, stats
from app.issues.lifecycle import Actor, State
from app.issues.models import Issue
from app.traces import repository as traces_repository

if TYPE_CHECKING:
    from app.issues.escalation import EscalationParams

# The escalation test needs numpy and scipy: it is imported where used (in the worker),
# so the web server does not load them.

SYSTEM = "system"


# ---------------------------------------------------------------------------
# People's moves


def transition(session: Session, project_id: int, issue_id: int, to_state: str, *, actor: str,
               reason: str = "") -> Issue:
    """A person moves an issue (board, issue page or API); the row is locked against the worker."""
    issue = service.get_issue(session, project_id, issue_id, for_update=True)
    from_state = issue.state
    moved = service.transition(session, issue, to_state, actor=actor, actor_kind=Actor.USER, reason=reason)
    audit.record(session, actor=actor, action="issue.transitioned", target=f"issue:{issue_id}", project_id=project_id,
                 data={"from": str(from_state), "to": str(moved.state), "reason": reason})
    return moved


def merge(session: Session, project_id: int, source_id: int, target_id: int, *, actor: str) -> Issue:
    first, second = sorted((source_id, target_id))  # lock in id order: two opposite merges cannot deadlock
    locked = {i: service.get_issue(session, project_id, i, for_update=True) for i in (first, second)}
    merged = service.merge(session, locked[source_id], locked[target_id], actor=actor)
    audit.record(session, actor=actor, action="issue.merged", target=f"issue:{source_id}", project_id=project_id,
                 data={"into": target_id})
    return merged


# ---------------------------------------------------------------------------
# Occurrences: failures in human labels, failures found by evaluators


def label_occurrences(session: Session, project_id: int, trace_ids: Sequence[int], *, source: str) -> None:
    """Failures in the traces' human labels are occurrences of the issues they name."""
    for trace_id, label in annotations.labels_for_traces(session, trace_ids).items():
        if label.verdict != "fail" or not label.issue_ids:
            continue
        trace = traces_repository.get_trace(session, project_id, trace_id)
        for issue in service.get_issues(session, project_id, label.issue_ids):
            service.record_occurrence(session, issue, trace.start_time, source=source)



def evaluator_occurrences(session: Session, project_id: int, occurrences: Iterable[tuple[int, datetime]]) -> int:
    """Record fail verdicts of active evaluators as occurrences of their issues.

    `occurrences` holds ``(issue_id, trace_start)`` pairs, e.g. one per fail result just
    stored. Like a human occurrence, each updates first/last seen, and one dated after a
    resolution regresses the issue; the hook above then re-tests escalation and alerts.
    Returns the number of issues touched. Call it in the transaction storing the results.
    """
    times: dict[int, list[datetime]] = defaultdict(list)
    for issue_id, at in occurrences:
        times[int(issue_id)].append(at)
    issues = repository.issues_by_id(session, project_id, sorted(times), for_update=True)
    for issue in issues:
        earliest, latest = min(times[issue.id]), max(times[issue.id])
        service.record_occurrence(session, issue, earliest, source="evaluator")
        if latest != earliest:
            service.record_occurrence(session, issue, latest, source="evaluator")
    return len(issues)


# ---------------------------------------------------------------------------
# The system's own moves


def escalation_params() -> EscalationParams:
    from app.issues.escalation import EscalationParams

    settings = issue_settings()
    return EscalationParams(
        window=timedelta(hours=settings.issue_escalation_window_hours),
        baseline=timedelta(days=settings.issue_escalation_baseline_days),
        p_threshold=settings.issue_escalation_p_threshold,
        min_count=settings.issue_escalation_min_count,
        min_ratio=settings.issue_escalation_min_ratio,
        min_baseline=timedelta(days=settings.issue_escalation_min_baseline_days),
    )


def apply_system_rules(session: Session, project_id: int, now: datetime | None = None) -> list[tuple[int, str, str]]:
    """Age new issues into ongoing; escalate or calm issues by their occurrence rate.

    Returns the moves made, as (issue id, from, to). Safe to run twice at once: a second
    run for the same project skips (advisory lock), and the rules are idempotent.
    """
    now = now or utcnow()
    if not repository.try_project_lock(session, "issues.check_states", project_id):
        return []
    issues = repository.live_issues_for_update(session, project_id)
    if not issues:
        return []
    params = escalation_params()
    since = now.replace(minute=0, second=0, microsecond=0) - params.window - params.baseline
    counts = stats.hourly_counts(session, project_id, [i.id for i in issues], since)
    moves = []
    for issue in issues:
        moves += _age_out(session, issue, now)
        moves += _follow_rate(session, issue, counts.get(issue.id, {}), now, params)
    return moves


def _system_move(session: Session, issue: Issue, target: State, reason: str) -> list[tuple[int, str, str]]:
    if target.value == issue.state:
        return []
    before = issue.state
    service.transition(session, issue, target, actor=SYSTEM, actor_kind=Actor.SYSTEM, reason=reason)
    return [(issue.id, before, target.value)]


def _age_out(session: Session, issue: Issue, now: datetime) -> list[tuple[int, str, str]]:
    window = timedelta(days=issue_settings().issue_new_window_days)
    first_seen = issue.first_seen or issue.created_at
    target = lifecycle.state_for_age(issue.state, first_seen, now, window)
    days = (now - first_seen).days
    return _system_move(session, issue, target, f"first seen {days} days ago; the new window is {window.days} days")


def _follow_rate(session: Session, issue: Issue, hourly: dict[datetime, int], now: datetime,
                 params: EscalationParams) -> list[tuple[int, str, str]]:
    if issue.state not in (State.NEW, State.ONGOING, State.ESCALATING):
        return []
    tracked_since = min([issue.first_seen or issue.created_at, *hourly])
    from app.issues.escalation import detect_escalation_hourly

    result = detect_escalation_hourly(hourly, now, params, tracked_since=tracked_since)
    target = lifecycle.state_for_rate(issue.state, result.escalating)
    return _system_move(session, issue, target, f"occurrence rate: {result.reason}")
