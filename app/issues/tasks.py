"""Task bodies of the issues domain (registered in worker/tasks.py).

Each opens its own unit of work and is idempotent: a retried or duplicated job finds
the work done (unique rows, state rules that do not move an issue twice) and does nothing.
"""

from app.core.db import unit_of_work
from app.issues import flows, repository


def _project_ids(project_id: int | None, all_ids) -> list[int]:
    if project_id is not None:
        return [project_id]
    with unit_of_work() as session:
        return all_ids(session)


def check_states(project_id: int | None = None) -> int:
    """System transitions (age, escalation) for one project, or for every project with live issues."""
    moved = 0
    for pid in _project_ids(project_id, repository.project_ids_with_live_issues):
        # One transaction per project: a failure in one does not hold back the others.
        with unit_of_work() as session:
            moved += len(flows.apply_system_rules(session, pid))
    return moved


def refresh_suggestions(project_id: int | None = None, force: bool = False) -> int:
    stored = 0
    for pid in _project_ids(project_id, repository.project_ids_with_annotations):
        with unit_of_work() as session:
            stored += flows.refresh_suggestions(session, pid, force=force) or 0
    return stored


def notify(event_id: int) -> int:
    with unit_of_work() as session:
        return flows.notify(session, event_id)


def deliver_webhook(delivery_id: int) -> float | None:
    """One attempt; the seconds until the next one when it failed and may be retried."""
    with unit_of_work() as session:
        return flows.deliver(session, delivery_id)


def sweep_alerts() -> int:
    with unit_of_work() as session:
        return flows.sweep_alerts(session)
