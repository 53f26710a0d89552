"""Jobs of the issues domain (declared here, registered by `worker/`).

Each opens its own unit of work and is idempotent: a retried or duplicated job finds
the work done (unique rows, state rules that do not move an issue twice) and does nothing.
"""

from sqlalchemy.orm import Session

from app.core.jobs import Sessions, job
from app.issues import alerts, flows, repository, suggestions
from app.issues.models import WebhookDelivery


def _project_ids(sessions: Sessions, project_id: int | None, all_ids) -> list[int]:
    if project_id is not None:
        return [project_id]
    with sessions() as session:
        return all_ids(session)


@job("issues.check_states")
def check_states(sessions: Sessions, project_id: int | None = None) -> int:
    """System transitions (age, escalation) for one project, or for every project with live issues."""
    moved = 0
    for pid in _project_ids(sessions, project_id, repository.project_ids_with_live_issues):
        # One transaction per project: a failure in one does not hold back the others.
        with sessions() as session:
            moved += len(flows.apply_system_rules(session, pid))
    return moved


@job("issues.refresh_suggestions")
def refresh_suggestions(sessions: Sessions, project_id: int | None = None, force: bool = False) -> int:
    stored = 0
    for pid in _project_ids(sessions, project_id, repository.project_ids_with_annotations):
        with sessions() as session:
            stored += suggestions.refresh_suggestions(session, pid, force=force) or 0
    return stored


@job("issues.notify")
def notify(sessions: Sessions, event_id: int) -> int:
    with sessions() as session:
        return alerts.notify(session, event_id)


def _delivery_lost(session: Session, delivery_id: int, *, gave_up: bool) -> None:
    delivery = session.get(WebhookDelivery, delivery_id)
    if gave_up and delivery is not None and delivery.status == "pending":
        delivery.status, delivery.last_error = "failed", "worker lost"


@job("issues.deliver_webhook", on_lost=_delivery_lost)
def deliver_webhook(sessions: Sessions, delivery_id: int) -> float | None:
    """One attempt; when it failed and may be retried, the next attempt is asked for in the
    same transaction that records this one (the attempt count and back-off live on the row)."""
    with sessions() as session:
        retry_in = alerts.deliver(session, delivery_id)
        if retry_in is not None:
            deliver_webhook.enqueue(session, delivery_id, delay=retry_in)
        return retry_in


@job("issues.sweep_alerts")
def sweep_alerts(sessions: Sessions) -> int:
    with sessions() as session:
        return alerts.sweep_alerts(session)
