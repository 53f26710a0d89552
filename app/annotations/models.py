"""Annotation queues, their items and locks, annotations (with history) and adjudications."""

from datetime import datetime

from sqlalchemy import (Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, CreatedMixin, IdMixin


class AnnotationQueue(IdMixin, CreatedMixin, Base):
    __tablename__ = "annotation_queue"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        CheckConstraint("annotators_per_item BETWEEN 1 AND 5", name="annotators_per_item"),
        CheckConstraint("sampling_rate > 0 AND sampling_rate <= 1", name="sampling_rate"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, server_default="")
    annotators_per_item: Mapped[int] = mapped_column(Integer, server_default="1")
    # The explorer filter (TraceFilter fields) that fills the queue, and how.
    filter: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    sampling_rate: Mapped[float] = mapped_column(Float, server_default="1")
    cap: Mapped[int | None] = mapped_column(Integer)
    live: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class QueueMember(Base):
    """Who may annotate in a queue (annotators or admins of the project)."""

    __tablename__ = "queue_member"

    queue_id: Mapped[int] = mapped_column(ForeignKey("annotation_queue.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)


class QueueItem(IdMixin, Base):
    __tablename__ = "queue_item"
    __table_args__ = (
        UniqueConstraint("queue_id", "trace_id"),  # a trace is never in the same queue twice
        # "Next item": the open items of a queue in order.
        Index("ix_queue_item_open", "queue_id", "id", postgresql_where=text("NOT done")),
    )

    queue_id: Mapped[int] = mapped_column(ForeignKey("annotation_queue.id", ondelete="CASCADE"))
    trace_id: Mapped[int] = mapped_column(ForeignKey("trace.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Annotations received from queue members; the item is done at annotators_per_item.
    annotation_count: Mapped[int] = mapped_column(Integer, server_default="0")
    done: Mapped[bool] = mapped_column(Boolean, server_default="false")


class QueueLock(Base):
    """An annotator holding an item; expires unless renewed while the item is open."""

    __tablename__ = "queue_lock"
    # "The item I hold" is asked on every claim; lapsed locks stay behind, so look them up by holder.
    __table_args__ = (Index("ix_queue_lock_user", "user_id"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("queue_item.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    locked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QueueSkip(Base):
    """An item an annotator chose to skip: not offered to them again, still open to others."""

    __tablename__ = "queue_skip"

    item_id: Mapped[int] = mapped_column(ForeignKey("queue_item.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Annotation(IdMixin, CreatedMixin, Base):
    """One annotator's judgement of one trace (their latest; edits keep history)."""

    __tablename__ = "annotation"
    __table_args__ = (
        UniqueConstraint("trace_id", "annotator"),
        CheckConstraint("verdict IN ('pass', 'fail')", name="verdict"),
        CheckConstraint("verdict = 'pass' OR length(btrim(feedback)) > 0", name="feedback_on_fail"),
        Index("ix_annotation_project_updated", "project_id", "updated_at"),
        Index("ix_annotation_author", "author_id", "updated_at"),
        # An annotator's latest work in a queue: where their next claim starts looking.
        Index("ix_annotation_queue_author", "queue_id", "author_id", "updated_at"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    trace_id: Mapped[int] = mapped_column(ForeignKey("trace.id", ondelete="CASCADE"))
    # "user:<id>" for people signed in, "import:<name>" for labels imported by API.
    annotator: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("annotation_queue.id", ondelete="SET NULL"))
    verdict: Mapped[str] = mapped_column(String(4))
    feedback: Mapped[str] = mapped_column(Text, server_default="")
    corrected_output: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Time the annotator spent on the item in the workbench, summed over edits (null when
    # not measured: imports, API clients). Feeds the pace figure and annotation hours.
    seconds_spent: Mapped[int | None] = mapped_column(Integer)


class AnnotationIssue(Base):
    """The failure modes (issues) an annotation names."""

    __tablename__ = "annotation_issue"

    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotation.id", ondelete="CASCADE"), primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"), primary_key=True, index=True)


class AnnotationRevision(IdMixin, Base):
    """The state an annotation had before an edit: nothing is overwritten silently."""

    __tablename__ = "annotation_revision"
    __table_args__ = (Index("ix_annotation_revision_annotation", "annotation_id", "at"),)

    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotation.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    editor: Mapped[str] = mapped_column(String(200))
    previous: Mapped[dict] = mapped_column(JSONB)


class Adjudication(IdMixin, CreatedMixin, Base):
    """An admin's decision on a disputed trace: it becomes the trace's label."""

    __tablename__ = "adjudication"
    __table_args__ = (
        UniqueConstraint("trace_id"),
        CheckConstraint("verdict IN ('pass', 'fail')", name="verdict"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    trace_id: Mapped[int] = mapped_column(ForeignKey("trace.id", ondelete="CASCADE"))
    verdict: Mapped[str] = mapped_column(String(4))
    issue_ids: Mapped[list[int]] = mapped_column(JSONB, server_default="[]")
    note: Mapped[str] = mapped_column(Text, server_default="")
    adjudicator_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
