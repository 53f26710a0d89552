"""Orchestration around issues: people's moves, the system's own moves, suggestions, alerts.

The only module of the domain that enqueues jobs (declared in `tasks.py`, sent after commit by `core.jobs`).

Alerts follow the events, wherever they come from. A state change can start in the
board, the API, the annotation flow (a human occurrence regressing a resolved issue,
through `service.record_occurrence`) or the worker; rather than trusting every caller to
remember, one session hook (`_announce_issue_changes`) looks at what each flush wrote:

- a new alerting event (issue created, or moved to escalating/regressed/resolved)
  enqueues ``issues.notify`` with the event id — the notification and the webhook
  deliveries are then created by the worker, idempotently (unique per event);
- an issue whose ``last_seen`` moved (a new occurrence) enqueues ``issues.check_states``
  for its project, coalesced, so escalation is re-tested soon after data arrives.

Lost jobs (Redis down at commit) are caught up by the periodic ``issues.sweep_alerts``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from typing import TYPE_CHECKING

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.accounts.models import Project
from app.annotations import service as annotations
from app.traces import repository as traces_repository
from app.core.db import utcnow
from app.core.errors import NotFound
from app.core.settings import core_settings, issue_settings
from app.issues import lifecycle, repository, service, stats, tasks, webhooks
from app.issues.lifecycle import Actor, State
from app.issues.models import Issue, IssueEvent, IssueSuggestion, Webhook, WebhookDelivery

if TYPE_CHECKING:
    from app.issues import clustering
    from app.issues.escalation import EscalationParams

# Clustering and the escalation test need numpy, scipy and scikit-learn: they are
# imported where used (in the worker), so the web server does not load them.

SYSTEM = "system"
CHECK_COALESCE_S = 30.0
SUGGEST_COALESCE_S = 5.0
# A delivery still pending this long after its planned attempt lost its job.
OVERDUE_AFTER = timedelta(minutes=5)
# How far back the sweep looks for events whose alert job was lost.
SWEEP_EVENTS_SINCE = timedelta(days=1)


# ---------------------------------------------------------------------------
# The session hook


@event.listens_for(Session, "after_flush")
def _announce_issue_changes(session: Session, _flush_context) -> None:
    # Runs inside every flush: reads only what is already in memory (no queries).
    for obj in session.new:
        if isinstance(obj, IssueEvent):
            values = inspect(obj).dict
            if service.alert_kind(values.get("kind") or "transition", values.get("to_state")):
                tasks.notify.enqueue(session, obj.id)
    for obj in itertools.chain(session.new, session.dirty):
        if isinstance(obj, Issue) and inspect(obj).attrs.last_seen.history.added:
            tasks.check_states.enqueue(session, obj.project_id, coalesce_seconds=CHECK_COALESCE_S)


# ---------------------------------------------------------------------------
# People's moves


def transition(session: Session, project_id: int, issue_id: int, to_state: str, *, actor: str,
               reason: str = "") -> Issue:
    """A person moves an issue (board, issue page or API); the row is locked against the worker."""
    issue = service.get_issue(session, project_id, issue_id, for_update=True)
    return service.transition(session, issue, to_state, actor=actor, actor_kind=Actor.USER, reason=reason)


def merge(session: Session, project_id: int, source_id: int, target_id: int, *, actor: str) -> Issue:
    first, second = sorted((source_id, target_id))  # lock in id order: two opposite merges cannot deadlock
    locked = {i: service.get_issue(session, project_id, i, for_update=True) for i in (first, second)}
    return service.merge(session, locked[source_id], locked[target_id], actor=actor)


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


# ---------------------------------------------------------------------------
# Suggestions from unassigned failures


def request_suggestions(session: Session, project_id: int, *, force: bool = False) -> None:
    tasks.refresh_suggestions.enqueue(session, project_id, force, coalesce_seconds=SUGGEST_COALESCE_S)


def refresh_suggestions(session: Session, project_id: int, *, force: bool = False) -> int | None:
    """Cluster the project's unassigned failures and store the proposals (idempotent).

    Skips (None) when another run holds the project, or when nothing it reads changed
    since the last run (unless `force`). Open proposals not found again are dropped; a
    proposal much like a dismissed one (same kind and issue, half its failures or more
    already dismissed) is not offered again.
    """
    if not repository.try_project_lock(session, "issues.suggestions", project_id):
        return None
    failures = _unassigned_failures(session, project_id)
    issues = repository.open_issues(session, project_id)
    inputs = _inputs_fingerprint(session, failures, issues)
    run = repository.suggestion_run(session, project_id)
    if run is not None and run.inputs == inputs and not force:
        return None
    from app.issues import clustering

    found = clustering.suggest(failures, [clustering.IssueDef(i.id, i.title, i.description) for i in issues])
    dismissed = repository.dismissed_suggestions(session, project_id)
    rows = [_suggestion_row(s) for s in found if not _like_dismissed(s, dismissed)]
    repository.upsert_suggestions(session, project_id, rows)
    repository.drop_open_suggestions_except(session, project_id, [row["fingerprint"] for row in rows])
    repository.save_suggestion_run(session, project_id, inputs, len(failures))
    return len(rows)


def _unassigned_trace_ids(session: Session, trace_ids: list[int] | None, project_id: int) -> list[int]:
    labels = (annotations.project_labels(session, project_id) if trace_ids is None
              else annotations.labels_for_traces(session, trace_ids))
    return sorted(t for t, label in labels.items() if label.verdict == "fail" and not label.issue_ids)


def _unassigned_failures(session: Session, project_id: int) -> list[clustering.Failure]:
    from app.issues import clustering

    # The newest failures only: clustering costs O(n^2) memory.
    newest = _unassigned_trace_ids(session, None, project_id)[-issue_settings().issue_suggestions_max_failures:]
    return [clustering.Failure(trace_id, feedback, output)
            for trace_id, feedback, output in repository.failure_texts(session, newest)]


def _inputs_fingerprint(session: Session, failures: list[clustering.Failure], issues: list[Issue]) -> str:
    ids = [f.id for f in failures]
    marker = repository.failure_inputs_marker(session, ids)
    data = [ids, marker.isoformat() if marker else None, [(i.id, i.title, i.description) for i in issues]]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def _fingerprint(suggestion: clustering.Suggestion) -> str:
    members = ",".join(str(m) for m in sorted(suggestion.member_ids))
    return hashlib.sha256(f"{suggestion.kind}:{suggestion.issue_id}:{members}".encode()).hexdigest()


def _suggestion_row(suggestion: clustering.Suggestion) -> dict:
    return {"kind": suggestion.kind, "issue_id": suggestion.issue_id, "label": suggestion.label[:500],
            "trace_ids": sorted(int(m) for m in suggestion.member_ids), "score": suggestion.score,
            "fingerprint": _fingerprint(suggestion)}


def _like_dismissed(suggestion: clustering.Suggestion, dismissed: list[IssueSuggestion]) -> bool:
    members = set(suggestion.member_ids)
    for old in dismissed:
        if old.kind == suggestion.kind and old.issue_id == suggestion.issue_id:
            if len(members & set(old.trace_ids)) * 2 >= len(members):
                return True
    return False


def accept_suggestion(session: Session, project_id: int, suggestion_id: int, *, actor: str,
                      title: str | None = None) -> tuple[Issue, list[int]]:
    """Link the proposal's failures to its issue (or to a new issue named `title`); returns the
    issue and the traces linked (their labels changed: `app.loop.accept_suggestion` follows up)."""
    suggestion = _suggestion(session, project_id, suggestion_id)
    service.decide_suggestion(suggestion, "accepted", actor=actor)
    if suggestion.kind == "match":
        issue = service.get_issue(session, project_id, suggestion.issue_id, for_update=True)
    else:
        issue = service.find_or_create(session, project_id, title or suggestion.label, actor=actor)
    # Someone may have labelled some of them meanwhile: link only those still unassigned.
    still = _unassigned_trace_ids(session, list(suggestion.trace_ids), project_id)
    repository.link_failures(session, project_id, issue.id, still)
    service.record_linked(session, issue, len(still), actor=actor, how="suggestion accepted")
    return issue, still


def dismiss_suggestion(session: Session, project_id: int, suggestion_id: int, *, actor: str) -> None:
    service.decide_suggestion(_suggestion(session, project_id, suggestion_id), "dismissed", actor=actor)


def _suggestion(session: Session, project_id: int, suggestion_id: int) -> IssueSuggestion:
    suggestion = repository.get_suggestion(session, project_id, suggestion_id)
    if suggestion is None:
        raise NotFound("No such suggestion in this project.")
    return suggestion


# ---------------------------------------------------------------------------
# Alerts: notifications and webhooks


def issue_url(project_id: int, issue_id: int) -> str:
    return f"{core_settings().public_url()}/projects/{project_id}/issues/{issue_id}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def alert_payload(kind: str, event_: IssueEvent, issue: Issue, project: Project) -> dict:
    return {
        "type": kind,
        "event_id": event_.id,
        "at": _iso(event_.at),
        "project": {"id": project.id, "name": project.name},
        "issue": {"id": issue.id, "title": issue.title, "state": issue.state, "url": issue_url(project.id, issue.id),
                  "first_seen": _iso(issue.first_seen), "last_seen": _iso(issue.last_seen)},
        "transition": {"from": event_.from_state, "to": event_.to_state, "actor": event_.actor,
                       "reason": event_.reason},
    }


def alert_message(kind: str, title: str, reason: str) -> str:
    if kind == "issue.new":
        return f"New issue: “{title}”"
    verb = {"issue.escalating": "is escalating", "issue.regressed": "regressed",
            "issue.resolved": "was resolved"}[kind]
    return f"“{title}” {verb}: {reason}" if reason else f"“{title}” {verb}"


def notify(session: Session, event_id: int) -> int:
    """The in-app notification and one delivery per subscribed webhook for this event.

    Idempotent: both are unique per event; only deliveries created now are enqueued.
    Returns the number of deliveries enqueued.
    """
    event_ = repository.get_event(session, event_id)
    kind = service.alert_kind(event_.kind, event_.to_state) if event_ else None
    if kind is None:
        return 0
    issue = session.get(Issue, event_.issue_id)
    project = session.get(Project, issue.project_id)
    repository.add_notification(session, project_id=project.id, issue_id=issue.id, event_id=event_.id, kind=kind,
                                message=alert_message(kind, issue.title, event_.reason), at=event_.at)
    payload = alert_payload(kind, event_, issue, project)
    sent = 0
    for webhook in repository.subscribed_webhooks(session, project.id, kind):
        delivery_id = repository.add_delivery(session, webhook.id, event_.id, kind, payload)
        if delivery_id is not None:
            tasks.deliver_webhook.enqueue(session, delivery_id)
            sent += 1
    return sent


def send_test(session: Session, webhook: Webhook) -> int:
    project = session.get(Project, webhook.project_id)
    payload = {"type": "test", "at": utcnow().isoformat(), "project": {"id": project.id, "name": project.name},
               "message": "A test delivery from Sextant.",
               "url": f"{core_settings().public_url()}/projects/{project.id}/issues"}
    delivery_id = repository.add_delivery(session, webhook.id, None, "test", payload)
    tasks.deliver_webhook.enqueue(session, delivery_id)
    return delivery_id


def deliver(session: Session, delivery_id: int, now: datetime | None = None) -> float | None:
    """One attempt at a pending delivery; returns the seconds to wait before the next, if any.

    Delivered or given-up deliveries are left alone, so a duplicate job does nothing; the
    row stays locked during the attempt, so two workers never send it at once.
    """
    delivery = repository.delivery_for_update(session, delivery_id)
    if delivery is None or delivery.status != "pending":
        return None
    webhook = session.get(Webhook, delivery.webhook_id)
    if not webhook.active:
        delivery.status, delivery.last_error = "failed", "the webhook is disabled"
        return None
    settings = issue_settings()
    body = webhooks.body_bytes(delivery.payload)
    headers = webhooks.signed_headers(webhook.secret, body, kind=delivery.kind, delivery_id=delivery.id)
    attempt = webhooks.post(webhook.url, body, headers, timeout=settings.webhook_timeout_seconds,
                            allow_private=settings.webhook_allow_private)
    return _record_attempt(delivery, attempt, now or utcnow())


def _record_attempt(delivery: WebhookDelivery, attempt: webhooks.Attempt, now: datetime) -> float | None:
    settings = issue_settings()
    delivery.attempts += 1
    delivery.response_code, delivery.last_error = attempt.status_code, attempt.error
    if attempt.ok:
        delivery.status, delivery.delivered_at = "delivered", now
        return None
    if delivery.attempts >= settings.webhook_max_attempts:
        delivery.status = "failed"
        return None
    delay = settings.webhook_backoff_seconds * 2 ** (delivery.attempts - 1)
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    return delay


def sweep_alerts(session: Session, now: datetime | None = None) -> int:
    """Catch up on lost jobs: events never notified, deliveries whose retry never came."""
    now = now or utcnow()
    done = 0
    for event_id in repository.unnotified_event_ids(session, now - SWEEP_EVENTS_SINCE):
        notify(session, event_id)
        done += 1
    for delivery_id in repository.claim_overdue_deliveries(session, now - OVERDUE_AFTER, now):
        tasks.deliver_webhook.enqueue(session, delivery_id)
        done += 1
    return done


# ---------------------------------------------------------------------------
# Notifications read by people


def unread_count(session: Session, user_id: int, project_id: int) -> int:
    return repository.unread_count(session, user_id, project_id)


def read_notifications(session: Session, user_id: int, project_id: int) -> tuple[list, int]:
    """The latest notifications, and the id read up to before this reading; marks them read."""
    previous = repository.seen_id(session, user_id, project_id)
    items = repository.notifications_of(session, project_id)
    if items:
        repository.mark_seen(session, user_id, project_id, max(n.id for n, _ in items))
    return items, previous
