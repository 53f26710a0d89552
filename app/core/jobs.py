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


def enqueue(session: Session, task_name: str, *args: Any, countdown: float | None = None,
            coalesce_seconds: float | None = None) -> None:
    """Send `task_name(*args)` once this session commits.

    With `coalesce_seconds`, at most one such job (same name and args) is sent per
    window, delayed to the window's end so it sees everything committed in it:
    busy ingestion asks for search indexing on every request, but one run will do.
    """
    job = (task_name, args, countdown, coalesce_seconds)
    session.info.setdefault(_PENDING, []).append(job)


def pending_jobs(session: Session) -> list[tuple]:
    return list(session.info.get(_PENDING, []))


def _first_in_window(task_name: str, args: tuple, seconds: float) -> bool:
    from app.core.redis import get_redis

    key = f"sextant:coalesce:{task_name}:{args!r}"
    return bool(get_redis().set(key, "1", nx=True, px=int(seconds * 1000)))


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    jobs = session.info.pop(_PENDING, [])
    if not jobs:
        return
    from worker.celery_app import celery_app

    for task_name, args, countdown, coalesce_seconds in jobs:
        try:
            if coalesce_seconds:
                if not _first_in_window(task_name, args, coalesce_seconds):
                    continue
                countdown = coalesce_seconds
            celery_app.send_task(task_name, args=list(args), countdown=countdown)
        except Exception:
            # The data is committed; a periodic sweep re-finds unprocessed rows.
            log.exception("could not enqueue %s after commit", task_name)


@event.listens_for(Session, "after_rollback")
def _discard_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
