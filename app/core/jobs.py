"""Background jobs: declared once beside their bodies, written with the data, never lost.

A job is a function of a domain's `tasks.py`, declared with its name::

    @job("evals.realign")
    def realign(sessions: Sessions, evaluator_id: int) -> dict | None:
        with sessions() as session:
            ...

and enqueued by reference from a flow: ``tasks.realign.enqueue(session, evaluator.id)``.
The job is written to the outbox (`app.core.outbox`, table `job`) in the same
transaction as the data it is about, so a rollback drops both and a commit keeps
both; after commit a background thread sends it to Celery at once, and the periodic
relay (`core.relay_jobs`) sends whatever that could not. A worker claims the row,
holds a lease while the body runs and deletes the row when it returns; a worker
that dies leaves a lease to expire and the relay sends the job again. Jobs carry
ids, never objects, and bodies are idempotent: a job may run more than once.
The worker runs the body with `unit_of_work` as `sessions`; a test calls the body
directly with its own session (``realign(joined(db), id)``).
`worker/` registers every job found in `app/*/tasks.py` with Celery.
"""

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core import outbox
from app.core.db import committed, unit_of_work
from app.core.redis import celery_broker_url, redis_url

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

Sessions = Callable[[], AbstractContextManager[Session]]

_PENDING = "sextant_pending_jobs"
_WRITTEN = "sextant_written_jobs"
_REGISTRY: dict[str, "Job"] = {}


# Told, in the relay's transaction, that a job's worker was lost (`gave_up` False: the
# job runs again) or that the job was given up for good (`gave_up` True).
OnLost = Callable[..., None]  # (session, *args, gave_up: bool)


@dataclass(frozen=True)
class Job:
    name: str
    body: Callable[..., Any]
    on_lost: OnLost | None = None

    def __call__(self, sessions: Sessions, *args: Any) -> Any:
        return self.body(sessions, *args)

    def run(self, *args: Any, job_id: int | None = None) -> Any:
        """The worker's entry point: claim the outbox row, run the body under a lease, finish.

        A message without `job_id` (beat's periodic jobs) just runs the body.
        """
        if job_id is None:
            return self.body(unit_of_work, *args)
        attempt = outbox.claim(job_id, self.name, list(args))
        if attempt is None:
            return None  # done already, rolled back, or running elsewhere: a duplicate message
        try:
            with outbox.lease_kept(job_id):
                result = self.body(unit_of_work, *args)
        except Exception as error:
            outbox.record_failure(job_id, attempt, error)
            raise
        outbox.finish(job_id)
        return result

    def enqueue(self, session: Session, *args: Any, delay: float | None = None,
                coalesce_seconds: float | None = None) -> None:
        """Send this job with `args` (ids, JSON-able) once `session` commits, after `delay` seconds.

        With `coalesce_seconds`, at most one such job (same args) waits at a time, run
        after that many seconds so it sees everything committed meanwhile: busy
        ingestion asks for search indexing on every request, but one run will do.
        """
        session.info.setdefault(_PENDING, []).append(PendingJob(self.name, args, delay, coalesce_seconds))


class PendingJob(NamedTuple):
    name: str
    args: tuple
    delay: float | None = None
    coalesce_seconds: float | None = None


def job(name: str, *, on_lost: OnLost | None = None) -> Callable[[Callable[..., Any]], Job]:
    """Declare the function below as the body of job `name` (`domain.verb`)."""
    def declare(body: Callable[..., Any]) -> Job:
        if name in _REGISTRY and _REGISTRY[name].body is not body:
            raise ValueError(f"job {name!r} is declared twice")
        _REGISTRY[name] = declared = Job(name, body, on_lost)
        return declared
    return declare


def registered() -> dict[str, Job]:
    return dict(_REGISTRY)


def joined(session: Session) -> Sessions:
    """Units of work on an existing session (tests): each commits it, or rolls it back on error."""
    return lambda: committed(session)


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
        # A worker takes a message only when a process is free to run it, so one that dies
        # holds no message it had not started (those it had started are the leases' business).
        worker_disable_prefetch=True,
        broker_connection_retry_on_startup=True,
        # A task not acknowledged within this time goes back to the queue.
        broker_transport_options={"visibility_timeout": 3600},
        timezone="UTC",
    )
    return app


def send(message: outbox.Message) -> None:
    celery_app().send_task(message.name, args=message.args, kwargs={"job_id": message.id},
                           retry=True, retry_policy={"max_retries": 1, "interval_start": 0.2})


_sender: outbox.Sender | None = None


def _sender_here() -> outbox.Sender:
    global _sender
    if _sender is None or not _sender.alive_here():  # a forked worker process needs its own thread
        _sender = outbox.Sender(send)
    return _sender


def relay() -> outbox.RelayReport:
    """One pass of the periodic relay (the `core.relay_jobs` job)."""
    from app.core.redis import get_redis

    def broker() -> outbox.Broker:
        redis = get_redis()
        queue = celery_app().conf.task_default_queue
        return outbox.Broker(reset=bool(redis.set(outbox.BROKER_MARKER, "1", nx=True)), idle=redis.llen(queue) == 0)

    def lost(session: Session, name: str, args: list, gave_up: bool) -> None:
        declared = _REGISTRY.get(name)
        if declared and declared.on_lost:
            declared.on_lost(session, *args, gave_up=gave_up)

    return outbox.relay(send, broker, lost)


@event.listens_for(Session, "before_commit")
def _write_with_the_data(session: Session) -> None:
    session.flush()  # a flush may ask for jobs (session hooks): write those too
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info.setdefault(_WRITTEN, []).extend(outbox.write(session, pending))


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    written = session.info.pop(_WRITTEN, None)
    if written:
        _sender_here().submit(session.get_bind().engine, written)


@event.listens_for(Session, "after_rollback")
def _discard_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)
