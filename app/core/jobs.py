"""Background jobs are sent only after the transaction that asked for them commits.

`enqueue(session, "domain.verb", ...)` records a job on the session; an
`after_commit` hook sends it to Celery, and a rollback discards it. So a worker
never sees an id whose row was rolled back. Jobs carry ids, never objects.
"""

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "sextant_pending_jobs"


def enqueue(session: Session, task_name: str, *args: Any, countdown: float | None = None) -> None:
    session.info.setdefault(_PENDING, []).append((task_name, args, countdown))


def pending_jobs(session: Session) -> list[tuple[str, tuple, float | None]]:
    return list(session.info.get(_PENDING, []))


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    jobs = session.info.pop(_PENDING, [])
    if not jobs:
        return
    from worker.celery_app import celery_app

    for task_name, args, countdown in jobs:
        try:
            celery_app.send_task(task_name, args=list(args), countdown=countdown)
        except Exception:
            # The data is committed; a periodic sweep re-finds unprocessed rows.
            log.exception("could not enqueue %s after commit", task_name)


@event.listens_for(Session, "after_rollback")
def _discard_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
