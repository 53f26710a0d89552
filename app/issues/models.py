"""Issues: recurring failure modes, with their lifecycle history."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, CreatedMixin, IdMixin


class Issue(IdMixin, CreatedMixin, Base):
    __tablename__ = "issue"
    __table_args__ = (
        Index("ix_issue_project_state", "project_id", "state", "last_seen"),
        Index("ix_issue_project_title", "project_id", text("lower(title)")),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    # The definition a new annotator can apply; evaluators and matching read it too.
    description: Mapped[str] = mapped_column(Text, server_default="")
    state: Mapped[str] = mapped_column(String(20), server_default="new")
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("issue.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IssueEvent(IdMixin, Base):
    """One state transition (or other lifecycle fact) of an issue: append-only."""

    __tablename__ = "issue_event"
    __table_args__ = (Index("ix_issue_event_issue_at", "issue_id", "at"),)

    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30), server_default="transition")
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, server_default="")
