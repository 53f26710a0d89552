"""Reading the audit log: filtered, newest first, paged by keyset on (at, id)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent

EXPORT_COLUMNS = ("id", "at", "actor", "action", "target", "project_id", "data")
EXPORT_BATCH = 1000


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""       # a prefix: "api_key." finds creations and revocations
    target: str = ""
    since: date | None = None
    until: date | None = None  # inclusive: the whole day

    def query(self, project_id: int) -> Select:
        stmt = select(AuditEvent).where(AuditEvent.project_id == project_id)
        if self.actor:
            stmt = stmt.where(AuditEvent.actor == self.actor)
        if self.action:
            stmt = stmt.where(AuditEvent.action.startswith(self.action, autoescape=True))
        if self.target:
            stmt = stmt.where(AuditEvent.target == self.target)
        if self.since:
            stmt = stmt.where(AuditEvent.at >= datetime.combine(self.since, time(), timezone.utc))
        if self.until:
            stmt = stmt.where(AuditEvent.at < datetime.combine(self.until + timedelta(days=1), time(), timezone.utc))
        return stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def page(session: Session, project_id: int, where: AuditFilter, *, before: tuple[datetime, int] | None,
         size: int) -> tuple[list[AuditEvent], tuple[datetime, int] | None]:
    """One page of events older than `before`, and the cursor of the next page (None at the end)."""
    stmt = where.query(project_id)
    if before is not None:
        stmt = stmt.where(tuple_(AuditEvent.at, AuditEvent.id) < tuple_(*before))
    rows = list(session.scalars(stmt.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, ((rows[-1].at, rows[-1].id) if more else None)


def stream(session: Session, project_id: int, where: AuditFilter) -> Iterator[dict]:
    """Every matching event as a plain dict, read through a server-side cursor."""
    result = session.execute(where.query(project_id), execution_options={"yield_per": EXPORT_BATCH})
    for event in result.scalars():
        yield {"id": event.id, "at": event.at.isoformat(), "actor": event.actor, "action": event.action,
               "target": event.target, "project_id": event.project_id, "data": event.data}
