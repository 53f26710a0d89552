"""Issues: recurring failure modes, their lifecycle history, suggestions and alerts."""

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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


class IssueSuggestion(IdMixin, CreatedMixin, Base):
    """A proposal from clustering unassigned failures, for a person to accept or dismiss.

    ``kind`` is ``match`` ("these failures look like <issue>") or ``new`` ("new cluster:
    <label>"). A failure is a trace whose human label is fail without an issue.
    ``fingerprint`` names the proposal (kind, issue and members), so recomputing the same
    proposal updates it instead of adding a copy.
    """

    __tablename__ = "issue_suggestion"
    __table_args__ = (
        UniqueConstraint("project_id", "fingerprint"),
        Index("ix_issue_suggestion_open", "project_id", postgresql_where=text("status = 'open'")),
        CheckConstraint("kind IN ('match', 'new')", name="kind"),
        CheckConstraint("status IN ('open', 'accepted', 'dismissed')", name="status"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(Text)
    trace_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    score: Mapped[float] = mapped_column(Float)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), server_default="open")
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(200))


class SuggestionRun(Base):
    """When a project's suggestions were last computed, and from which inputs (skip if unchanged)."""

    __tablename__ = "suggestion_run"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    inputs: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Webhook(IdMixin, CreatedMixin, Base):
    """Where a project's issue alerts are POSTed, signed with ``secret``."""

    __tablename__ = "webhook"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    # Kept in clear: it signs every delivery (HMAC needs the key itself, not a hash).
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(30)))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class WebhookDelivery(IdMixin, CreatedMixin, Base):
    """One alert to one webhook, with its attempts; unique per (webhook, event) so retries never duplicate."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_delivery_webhook_created", "webhook_id", "created_at"),
        Index("ix_webhook_delivery_pending", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    )

    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"))
    # Null for "send test" deliveries.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("issue_event.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    payload: Mapped[dict] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(IdMixin, Base):
    """An in-app alert: one per alerting issue event, shown to the project's members."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("event_id"),
        Index("ix_notification_project_at", "project_id", "at"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("issue_event.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationSeen(Base):
    """How far a user has read a project's notifications: unread ones have a higher id.

    Ids rather than times: the worker may create notifications out of event order.
    """

    __tablename__ = "notification_seen"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    seen_id: Mapped[int] = mapped_column(BigInteger)
