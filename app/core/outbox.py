"""The job outbox: a job is a row written in the transaction that asks for it.

A row's life, in columns:

- written before commit, with the data it is about (a rollback drops both);
- `sent_at`: handed to Celery right after commit by a background thread of the
  process (a request never waits on Redis) when due (`run_after`), else by the
  periodic relay;
- `started_at` / `lease_until`: a worker claimed it and renews its lease while the
  body runs; duplicate messages find it claimed (or gone) and do nothing;
- deleted when the body returns. A body that raised leaves the row with its error
  and a back-off lease; a worker that died leaves its lease to expire. The relay
  then sends the job again, up to `job_max_attempts`; past that the row is kept
  as failed (`done_at`, `error`) and the job's `on_lost` hook records it.

The relay also re-sends rows whose message the broker lost: Redis without
persistence forgets its queues on restart, and with them a marker key set by the
relay; a missing marker means every sent-but-unstarted row is sent again.
Coalesced jobs share a `coalesce_key`: while one is waiting to start, another is
not written (a unique index over the waiting rows).
"""

import heapq
import itertools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import DateTime, Index, Integer, String, Text, delete, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.db import Base, CreatedMixin, IdMixin, get_engine, utcnow
from app.core.settings import job_settings

log = logging.getLogger(__name__)

WAITING = text("started_at IS NULL AND attempts = 0")
# Fresh rows are the after-commit sender's for this long before the relay sends them.
SENDER_GRACE = timedelta(seconds=5)
# Delayed jobs are sent when due, never ahead with a countdown: a worker holding a
# delayed message in memory would take it down with it if it died.
DUE_SLACK = timedelta(seconds=0.5)
RELAY_BATCH = 500
CLAIM_RETRY_DELAYS_S = (0.5, 1, 2, 4, 8, 15, 30, 30, 30)  # about two minutes
BROKER_MARKER = "sextant:jobs:broker-marker"
IDLE_RESEND = timedelta(seconds=60)
FAILED_KEPT_FOR = timedelta(days=7)


class JobRow(IdMixin, CreatedMixin, Base):
    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_coalesce_key", "coalesce_key", unique=True, postgresql_where=WAITING),
        Index("ix_job_unfinished", "run_after", postgresql_where=text("done_at IS NULL")),
    )

    name: Mapped[str] = mapped_column(String(100))
    args: Mapped[list] = mapped_column(JSONB)
    coalesce_key: Mapped[str | None] = mapped_column(Text)
    run_after: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)


class Message(NamedTuple):
    id: int
    name: str
    args: list
    run_after: datetime


Send = Callable[[Message], None]


def write(session: Session, jobs: Sequence[tuple[str, tuple, float | None, float | None]]) -> list[Message]:
    """Insert these jobs in the session's transaction; return the rows written (not coalesced away)."""
    now = utcnow()
    rows = []
    for name, args, delay, coalesce_seconds in jobs:
        wait = coalesce_seconds or delay or 0.0
        key = f"{name}:{json.dumps(list(args))}" if coalesce_seconds else None
        rows.append({"name": name, "args": list(args), "coalesce_key": key,
                     "run_after": now + timedelta(seconds=wait)})
    statement = (insert(JobRow).values(rows)
                 .on_conflict_do_nothing(index_elements=["coalesce_key"], index_where=WAITING)
                 .returning(JobRow.id, JobRow.name, JobRow.args, JobRow.run_after))
    return [Message(*row) for row in session.execute(statement)]


def send_now(messages: Sequence[Message], send: Send) -> list[int]:
    """Send what is due; return the ids sent. Stops at the first failure (broker down)."""
    now, sent = utcnow(), []
    for message in messages:
        if message.run_after > now + DUE_SLACK:
            continue
        try:
            send(message)
        except Exception as error:  # noqa: BLE001 - any broker failure: the relay sends it later
            log.warning("could not send job %s (%s); the relay will", message.name, error)
            break
        sent.append(message.id)
    return sent


def mark_sent(session: Session, ids: Sequence[int]) -> None:
    if ids:
        session.execute(update(JobRow).where(JobRow.id.in_(ids), JobRow.sent_at.is_(None))
                        .values(sent_at=utcnow()))


class Sender:
    """A daemon thread per process that sends committed jobs, so no commit waits on the broker.

    Delayed jobs wait here until due (not in the broker: a worker holding a delayed
    message would lose it if it died); if this process dies first, the relay sends them.
    """

    MAX_WAITING = 10_000

    def __init__(self, send: Send):
        self._send, self._queue, self._pid = send, queue.Queue(maxsize=10_000), os.getpid()
        self._waiting: list[tuple[datetime, int, Engine, Message]] = []  # a heap by due time
        self._order = itertools.count()  # ties by arrival, never by comparing engines
        threading.Thread(target=self._loop, name="sextant-job-sender", daemon=True).start()

    def submit(self, engine: Engine, messages: Sequence[Message]) -> None:
        """Send `messages`, rows of the database behind `engine`, when due, and mark them sent."""
        try:
            self._queue.put_nowait((engine, list(messages)))
        except queue.Full:
            pass  # the relay sends them

    def _loop(self) -> None:
        while True:
            try:
                self._take_new()
                self._send_due()
            except Exception:  # noqa: BLE001 - never let the thread die; the relay catches up
                log.exception("job sender failed; the relay will send these jobs")

    def _take_new(self) -> None:
        timeout = (self._waiting[0][0] - utcnow()).total_seconds() if self._waiting else None
        try:
            engine, messages = self._queue.get(timeout=None if timeout is None else max(0.0, timeout))
        except queue.Empty:
            return
        for message in messages:
            if len(self._waiting) < self.MAX_WAITING:
                heapq.heappush(self._waiting, (message.run_after, next(self._order), engine, message))

    def _send_due(self) -> None:
        due: dict[Engine, list[Message]] = {}
        while self._waiting and self._waiting[0][0] <= utcnow() + DUE_SLACK:
            _, _, engine, message = heapq.heappop(self._waiting)
            due.setdefault(engine, []).append(message)
        for engine, messages in due.items():
            sent = send_now(messages, self._send)
            with Session(engine) as session, session.begin():
                mark_sent(session, sent)

    def alive_here(self) -> bool:
        return self._pid == os.getpid()


# ---------------------------------------------------------------------------
# The worker side: claim, keep the lease, finish


def claim(job_id: int, name: str, args: list) -> int | None:
    """Take the job for this worker; its attempt number, or None when done, gone or held.

    The row must be the message's job (name and arguments too), not merely its id: a
    message from another database (tests share a broker) must not take a stranger's row.
    While the database is away the worker waits for it (a while): the message in hand
    is the job's only one until the relay's long re-send, and nothing runs without it.
    """
    for delay in CLAIM_RETRY_DELAYS_S:
        try:
            return _claim_once(job_id, name, args)
        except (OperationalError, InterfaceError) as error:
            log.warning("cannot claim job %s (%s); trying again in %.0f s", job_id, type(error).__name__, delay)
            time.sleep(delay)
    return _claim_once(job_id, name, args)


def _claim_once(job_id: int, name: str, args: list) -> int | None:
    lease = job_settings().job_lease_seconds
    with Session(get_engine()) as session, session.begin():
        return session.execute(text("""
            UPDATE job SET started_at = now(), lease_until = now() + make_interval(secs => :lease),
                           attempts = attempts + 1, error = NULL
            WHERE id = :id AND name = :name AND args = CAST(:args AS jsonb) AND done_at IS NULL
              AND (started_at IS NULL OR lease_until < now())
            RETURNING attempts"""), {"id": job_id, "name": name, "args": json.dumps(args), "lease": lease}).scalar()


@contextmanager
def lease_kept(job_id: int) -> Iterator[None]:
    """Renew the job's lease every third of its length while the body runs."""
    lease = job_settings().job_lease_seconds
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease / 3):
            try:
                with Session(get_engine()) as session, session.begin():
                    session.execute(text("""UPDATE job SET lease_until = now() + make_interval(secs => :lease)
                                            WHERE id = :id AND done_at IS NULL"""), {"id": job_id, "lease": lease})
            except Exception:  # noqa: BLE001 - the database is away: the lease may lapse, a retry is harmless
                log.warning("could not renew the lease of job %s", job_id)

    keeper = threading.Thread(target=renew, name=f"sextant-lease-{job_id}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()


def finish(job_id: int) -> None:
    with Session(get_engine()) as session, session.begin():
        session.execute(delete(JobRow).where(JobRow.id == job_id))


def record_failure(job_id: int, attempts: int, error: BaseException) -> None:
    """The body raised: keep the error and wait a back-off before the relay tries again."""
    backoff = min(3600.0, job_settings().job_lease_seconds * 2 ** (attempts - 1))
    try:
        with Session(get_engine()) as session, session.begin():
            session.execute(text("""
                UPDATE job SET error = :error, lease_until = now() + make_interval(secs => :backoff)
                WHERE id = :id AND done_at IS NULL"""),
                {"id": job_id, "error": f"{type(error).__name__}: {error}"[:2000], "backoff": backoff})
    except Exception:  # noqa: BLE001 - the database is away: the lease lapses and the job is retried
        log.warning("could not record the failure of job %s", job_id)


# ---------------------------------------------------------------------------
# The periodic relay


class RelayReport(NamedTuple):
    sent: int
    resumed: int
    failed: int


Lost = Callable[[Session, str, list, bool], None]


class Broker(NamedTuple):
    reset: bool  # it lost its queues since the relay last looked (its marker key is gone)
    idle: bool  # no message waits in its queue


def relay(send: Send, broker: Callable[[], Broker], on_lost: Lost, now: datetime | None = None) -> RelayReport:
    """Send again what the broker lost, resume or fail expired leases, send what is due.

    A job sent but not started is lost when the broker lost its queues; or, with the
    queue empty, after IDLE_RESEND (workers take a message only when free and claim it
    at once, so none holds it unstarted for long: one killed in between took it along);
    or in any case after `job_resend_after_seconds`.
    """
    now = now or utcnow()
    settings = job_settings()
    state = broker()
    with Session(get_engine()) as session, session.begin():
        lost = [JobRow.done_at.is_(None), JobRow.started_at.is_(None), JobRow.sent_at.is_not(None)]
        if not state.reset:
            wait = IDLE_RESEND if state.idle else timedelta(seconds=settings.job_resend_after_seconds)
            lost.append(JobRow.sent_at < now - wait)
        session.execute(update(JobRow).where(*lost).values(sent_at=None))
        resumed, failed = _expire_leases(session, now, settings.job_max_attempts, on_lost)
    sent = 0
    while True:
        with Session(get_engine()) as session, session.begin():
            due = [Message(*row) for row in session.execute(
                select(JobRow.id, JobRow.name, JobRow.args, JobRow.run_after)
                .where(JobRow.done_at.is_(None), JobRow.sent_at.is_(None), JobRow.started_at.is_(None),
                       JobRow.run_after <= now + DUE_SLACK, JobRow.created_at < now - SENDER_GRACE)
                .order_by(JobRow.id).limit(RELAY_BATCH).with_for_update(skip_locked=True))]
            ids = send_now(due, send)
            mark_sent(session, ids)
        sent += len(ids)
        if len(due) < RELAY_BATCH or len(ids) < len(due):
            break
    with Session(get_engine()) as session, session.begin():
        session.execute(delete(JobRow).where(JobRow.done_at < now - FAILED_KEPT_FOR))
    return RelayReport(sent, resumed, failed)


def _expire_leases(session: Session, now: datetime, max_attempts: int, on_lost: Lost) -> tuple[int, int]:
    """Rows whose lease lapsed: queued again (the worker died, or a failure's back-off is over),
    or failed for good after `max_attempts`. Hooks hear of a lost worker and of giving up."""
    expired = session.scalars(select(JobRow).where(JobRow.done_at.is_(None), JobRow.started_at.is_not(None),
                                                   JobRow.lease_until < now)
                              .order_by(JobRow.id).limit(RELAY_BATCH).with_for_update(skip_locked=True)).all()
    resumed = failed = 0
    for row in expired:
        worker_lost = row.error is None
        if row.attempts >= max_attempts:
            row.done_at, row.error = now, row.error or "worker lost"
            on_lost(session, row.name, row.args, True)
            failed += 1
        else:
            row.started_at = row.lease_until = row.sent_at = None
            if worker_lost:
                on_lost(session, row.name, row.args, False)
            resumed += 1
    return resumed, failed


def unfinished(session: Session, name_prefix: str = "") -> list[tuple[str, list]]:
    """Jobs written and not yet done, oldest first (tests and the chaos bench)."""
    rows = session.execute(select(JobRow.name, JobRow.args).where(JobRow.done_at.is_(None),
                                                                   JobRow.name.startswith(name_prefix))
                           .order_by(JobRow.id))
    return [(name, args) for name, args in rows]

