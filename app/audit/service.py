from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent


def record(session: Session, *, actor: str, action: str, target: str,
           project_id: int | None = None, data: dict[str, Any] | None = None) -> None:
    session.add(AuditEvent(actor=actor, action=action, target=target,
                           project_id=project_id, data=data or {}))


def history_of(session: Session, project_id: int, targets: list[str], *, action_prefix: str) -> dict[str, list]:
    """target -> its audit events whose action starts with `action_prefix`, newest first (one query)."""
    rows = session.scalars(select(AuditEvent).where(
        AuditEvent.project_id == project_id, AuditEvent.target.in_(targets),
        AuditEvent.action.startswith(action_prefix)).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()))
    found: dict[str, list] = {target: [] for target in targets}
    for event in rows:
        found[event.target].append(event)
    return found
