"""CI gate runs: a candidate release compared with a baseline, issue by issue."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, CreatedMixin, IdMixin


class GateRun(IdMixin, CreatedMixin, Base):
    """One gate run: the audit trail of a deployment's evaluation (kept, never edited after done)."""

    __tablename__ = "gate_run"
    __table_args__ = (Index("ix_gate_run_project_release_created", "project_id", "release", "created_at"),
                      Index("ix_gate_run_project_created", "project_id", "created_at"))

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    release: Mapped[str] = mapped_column(String(200))
    commit: Mapped[str | None] = mapped_column(String(100))
    # Who or what asked: "API key sx_ab12…", a user's email, plus what the client said (CI job URL).
    trigger: Mapped[str] = mapped_column(String(500), server_default="")
    # file (outputs uploaded in chunks) | traces (traces already ingested with the release)
    source: Mapped[str] = mapped_column(String(10))
    traces_filter: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    # {"kind": "production", "days": N} | {"kind": "release", "release": R}
    baseline: Mapped[dict] = mapped_column(JSONB)
    # The thresholds in force when the run was made (later edits do not rewrite history).
    thresholds: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    # receiving (file chunks arriving) | queued | running | done | failed
    status: Mapped[str] = mapped_column(String(20), server_default="queued")
    # pass | fail | error (nothing could decide), set when done
    verdict: Mapped[str | None] = mapped_column(String(10))
    total: Mapped[int] = mapped_column(Integer, server_default="0")
    done: Mapped[int] = mapped_column(Integer, server_default="0")
    # File rows by sequence number, traces by id: each committed batch moves it on.
    cursor: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # Evaluators that run and those left out (fixed when the run starts), verdict counts
    # per evaluator version, then the comparison per issue.
    report: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GateOutput(Base):
    """A candidate output uploaded for a file run, held until the worker has evaluated it."""

    __tablename__ = "gate_output"

    gate_run_id: Mapped[int] = mapped_column(ForeignKey("gate_run.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[dict] = mapped_column(JSONB)


class GateSetting(Base):
    """A project's gate thresholds (defaults apply while it has no row)."""

    __tablename__ = "gate_setting"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    # Largest allowed rise of an issue's corrected failure rate (absolute, 0.02 = 2 points).
    max_increase: Mapped[float] = mapped_column(Float)
    # Fewer evaluated outputs than this on either side: the issue cannot decide.
    min_sample: Mapped[int] = mapped_column(Integer)
