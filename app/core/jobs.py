"""Background jobs: declared once beside their bodies, sent only after the transaction commits.

A job is a function of a domain's `tasks.py`, declared with its name::

    @job("evals.realign")
    def realign(sessions: Sessions, evaluator_id: int) -> dict | None:
        with sessions() as session:
            ...

and enqueued by reference from a flow: ``tasks.realign.enqueue(session, evaluator.id)``.
The job is recorded on the session; an `after_commit` hook sends it to Celery, and a
rollback discards it, so a worker never sees an id whose row was rolled back. Jobs
carry ids, never objects. The worker runs the body with `unit_of_work` as `sessions`;
a test calls the body directly with its own session (``realign(joined(db), id)``).
`worker/` registers every job found in `app/*/tasks.py` with Celery.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.db import unit_of_work
from app.core.redis import celery_broker_url, redis_url

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

Sessions = Callable[[], AbstractContextManager[Session]]

_PENDING = "sextant_pending_jobs"
_REGISTRY: dict[str, "Job"] = {}


@dataclass(frozen=True)
class Job:
    name: str
    body: Callable[..., Any]

    def __call__(self, sessions: Sessions, *args: Any) -> Any:
        return self.body(sessions, *args)

    def run(self, *args: Any) -> Any:
        """The worker's entry point: the body in its own units of work."""
        return self.body(unit_of_work, *args)

    def enqueue(self, session: Session, *args: Any, delay: float | None = None,
                coalesce_seconds: float | None = None) -> None:
        """Send this job with `args` (ids, JSON-able) once `session` commits, after `delay` seconds.

        With `coalesce_seconds`, at most one such job (same args) is sent per window,
        delayed to the window's end so it sees everything committed in it: busy
        ingestion asks for search indexing on every request, but one run will do.
        """
        session.info.setdefault(_PENDING, []).append(PendingJob(self.name, args, delay, coalesce_seconds))


class PendingJob(NamedTuple):
    name: str
    args: tuple
    delay: float | None = None
    coalesce_seconds: float | None = None


def job(name: str) -> Callable[[Callable[..., Any]], Job]:
    """Declare the function below as the body of job `name` (`domain.verb`)."""
    def declare(body: Callable[..., Any]) -> Job:
        if name in _REGISTRY and _REGISTRY[name].body is not body:
            raise ValueError(f"job {name!r} is declared twice")
        _REGISTRY[name] = declared = Job(name, body)
        return declared
    return declare


def registered() -> dict[str, Job]:
    return dict(_REGISTRY)


def joined(session: Session) -> Sessions:
    """Units of work on an existing session (tests): each commits it, or rolls it back on error."""
    @contextmanager
    def unit() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return unit


def pending_jobs(session: Session) -> list[PendingJob]:
    return list(session.info.get(_PENDING, []))


@lru_cache
def celery_app() -> "Celery":
    """The Celery application this process sends jobs with (the worker runs the same one)."""
    from celery import Celery

    broker = celery_broker_url(redis_url())
    app = Celery("sextant")
    app.conf.update(
        broker_url=broker,
        result_backend=broker,
        result_expires=3600,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # A task not acknowledged within this time goes back to the queue.
        broker_transport_options={"visibility_timeout": 3600},
        timezone="UTC",
    )
    return app


def _first_in_window(name: str, args: tuple, seconds: float) -> bool:
    from app.core.redis import get_redis

    key = f"sextant:coalesce:{name}:{args!r}"
    return bool(get_redis().set(key, "1", nx=True, px=int(seconds * 1000)))


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    for name, args, delay, coalesce_seconds in pending:
        try:
            if coalesce_seconds:
                if not _first_in_window(name, args, coalesce_seconds):
                    continue
                delay = coalesce_seconds
            celery_app().send_task(name, args=list(args), countdown=delay)
        except Exception:
            # The data is committed; a periodic sweep re-finds unprocessed rows.
            log.exception("could not enqueue %s after commit", name)


@event.listens_for(Session, "after_rollback")
def _discard_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
