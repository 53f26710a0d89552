"""Evaluators, their versions (spec + honest held-out figures), runs and results."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, CreatedMixin, IdMixin, one_of


class VersionStatus(StrEnum):
    """An evaluator version's life: pending -> running -> ready | failed | insufficient
    (too few labels to generate from). A hand-written rule is ready at once."""
    PENDING = "pending"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    INSUFFICIENT = "insufficient"


GENERATING = (VersionStatus.PENDING, VersionStatus.RUNNING)
FINISHED = (VersionStatus.READY, VersionStatus.FAILED, VersionStatus.INSUFFICIENT)


class RunStatus(StrEnum):
    """A run over traces: queued -> running -> done | failed | cancelled."""
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Evaluator(IdMixin, CreatedMixin, Base):
    """Detects one failure mode (issue); its active version runs on traffic."""

    __tablename__ = "evaluator"
    __table_args__ = (
        Index("ix_evaluator_project_issue", "project_id", "issue_id"),
        CheckConstraint("sampling_rate > 0 AND sampling_rate <= 1", name="sampling_rate"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300))
    # generated | manual
    origin: Mapped[str] = mapped_column(String(20), server_default="generated")
    active: Mapped[bool] = mapped_column(Boolean, server_default="false")
    active_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("evaluator_version.id", ondelete="SET NULL", use_alter=True))
    # Share of new traces the online run evaluates.
    sampling_rate: Mapped[float] = mapped_column(Float, server_default="1")
    # Realignment: the active version re-scored on labels it never saw.
    drift: Mapped[dict | None] = mapped_column(JSONB)
    realigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class EvaluatorVersion(IdMixin, CreatedMixin, Base):
    __tablename__ = "evaluator_version"
    __table_args__ = (UniqueConstraint("evaluator_id", "number"),
                      CheckConstraint(one_of("status", VersionStatus), name="status"))

    evaluator_id: Mapped[int] = mapped_column(ForeignKey("evaluator.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), server_default=VersionStatus.PENDING.value)
    error: Mapped[str | None] = mapped_column(Text)
    family: Mapped[str | None] = mapped_column(String(30))
    spec: Mapped[dict | None] = mapped_column(JSONB)
    # Held-out figures (never seen by the search) and the whole generation report.
    mcc: Mapped[float | None] = mapped_column(Float)
    mcc_ci_low: Mapped[float | None] = mapped_column(Float)
    mcc_ci_high: Mapped[float | None] = mapped_column(Float)
    tpr: Mapped[float | None] = mapped_column(Float)
    tnr: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    report: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    train_size: Mapped[int | None] = mapped_column(Integer)
    holdout_size: Mapped[int | None] = mapped_column(Integer)
    # Every labelled trace the version was fitted on (refit uses all): realignment
    # scores it only on labels outside this set.
    seen_trace_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EvalRun(IdMixin, CreatedMixin, Base):
    __tablename__ = "eval_run"
    __table_args__ = (Index("ix_eval_run_project_created", "project_id", "created_at"),
                      CheckConstraint(one_of("status", RunStatus), name="status"))

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    # online | backfill | gate
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default=RunStatus.QUEUED.value)
    evaluator_version_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    filter: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    total: Mapped[int] = mapped_column(Integer, server_default="0")
    done: Mapped[int] = mapped_column(Integer, server_default="0")
    # Backfills walk traces by id; each committed batch moves this on, so a
    # re-delivered task resumes where the last commit left off.
    cursor_trace_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What happened to the run beside its figures ("resumed after the worker stopped").
    note: Mapped[str | None] = mapped_column(Text)


class EvalResult(IdMixin, Base):
    """One verdict of one evaluator version on one trace (upserted: retries never duplicate)."""

    __tablename__ = "eval_result"
    __table_args__ = (
        UniqueConstraint("evaluator_version_id", "trace_id"),
        Index("ix_eval_result_trace", "trace_id"),
        Index("ix_eval_result_version_fail_at", "evaluator_version_id", "trace_start",
              postgresql_where=text("verdict = 'fail'")),
        CheckConstraint("verdict IN ('pass', 'fail', 'error')", name="verdict"),
    )

    evaluator_version_id: Mapped[int] = mapped_column(ForeignKey("evaluator_version.id", ondelete="CASCADE"))
    trace_id: Mapped[int] = mapped_column(ForeignKey("trace.id", ondelete="CASCADE"))
    # The trace's start, copied so rates over time need no join to 'trace'.
    trace_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("eval_run.id", ondelete="SET NULL"))
    verdict: Mapped[str] = mapped_column(String(5))
    score: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
