from typing import Any

from sqlalchemy.orm import Session

from app.audit.models import AuditEvent


def record(session: Session, *, actor: str, action: str, target: str,
           project_id: int | None = None, data: dict[str, Any] | None = None) -> None:
    session.add(AuditEvent(actor=actor, action=action, target=target,
                           project_id=project_id, data=data or {}))
