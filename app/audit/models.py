from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin


class AuditEvent(IdMixin, Base):
    """Append-only record of who did what: a trigger refuses UPDATE and DELETE (migration
    e2a7c9f4b1d3). No foreign key to the project, so the log outlives a deleted project."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_project_id_at_id", "project_id", "at", "id"),)

    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(200))
    project_id: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict] = mapped_column(JSONB, default=dict)
