"""Alerts: notifications and webhooks, following issue events wherever they come from.

A state change can start in the board, the API, a label (a human occurrence regressing a
resolved issue, through `service.record_occurrence`) or the worker; rather than trusting every
caller to remember, one session hook (`announce_issue_changes`, installed at start-up by
`install_hook`: the web app, the worker and the tests) looks at what each flush wrote:

- a new alerting event (issue created, or moved to escalating/regressed/resolved)
  enqueues ``issues.notify`` with the event id — the notification and the webhook
  deliveries are then created by the worker, idempotently (unique per event);
- an issue whose ``last_seen`` moved (a new occurrence) enqueues ``issues.check_states``
  for its project, coalesced, so escalation is re-tested soon after data arrives.

Lost jobs (Redis down at commit) are caught up by the periodic ``issues.sweep_alerts``.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.accounts.models import Project
from app.core.db import utcnow
from app.core.settings import core_settings, issue_settings
from app.issues import repository, service, tasks, webhooks
from app.issues.models import Issue, IssueEvent, Webhook, WebhookDelivery

CHECK_COALESCE_S = 30.0
# A delivery still pending this long after its planned attempt lost its job.
OVERDUE_AFTER = timedelta(minutes=5)
# How far back the sweep looks for events whose alert job was lost.
SWEEP_EVENTS_SINCE = timedelta(days=1)


# ---------------------------------------------------------------------------
# The session hook


def install_hook() -> None:
    """Alerts follow every flush of every session (idempotent: installed once per process)."""
    if not event.contains(Session, "after_flush", announce_issue_changes):
        event.listen(Session, "after_flush", announce_issue_changes)


def announce_issue_changes(session: Session, _flush_context) -> None:
    # Runs inside every flush: reads only what is already in memory (no queries).
    for obj in session.new:
        if isinstance(obj, IssueEvent):
            values = inspect(obj).dict
            if service.alert_kind(values.get("kind") or "transition", values.get("to_state")):
                tasks.notify.enqueue(session, obj.id)
    for obj in itertools.chain(session.new, session.dirty):
        if isinstance(obj, Issue) and inspect(obj).attrs.last_seen.history.added:
            tasks.check_states.enqueue(session, obj.project_id, coalesce_seconds=CHECK_COALESCE_S)


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
