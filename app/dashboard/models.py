"""Daily roll-ups behind the dashboard, maintained by the worker (a page never scans traces).

Each row covers one UTC day of one project for one release and one environment, where
ALL ('*') stands for "every release" / "every environment": the four combinations are
stored, so any filter reads figures computed exactly (a percentile cannot be merged).
A trace without a release or environment counts under ''.
"""

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Float, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base

ALL = "*"


class DashboardDay(Base):
    """Traffic of a day: traces, errors, latency percentiles, tokens, cost."""

    __tablename__ = "dashboard_day"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    release: Mapped[str] = mapped_column(Text, primary_key=True)
    environment: Mapped[str] = mapped_column(Text, primary_key=True)
    traces: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Float)
    latency_p50: Mapped[float | None] = mapped_column(Float)
    latency_p95: Mapped[float | None] = mapped_column(Float)


class DashboardEvalDay(Base):
    """An evaluator version's verdicts on a day's traces, with the corrected rate and its interval
    (computed by the worker, which has numpy; the page only reads them)."""

    __tablename__ = "dashboard_eval_day"
    __table_args__ = (Index("ix_dashboard_eval_day_project_day", "project_id", "day"),)

    evaluator_version_id: Mapped[int] = mapped_column(ForeignKey("evaluator_version.id", ondelete="CASCADE"),
                                                      primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    release: Mapped[str] = mapped_column(Text, primary_key=True)
    environment: Mapped[str] = mapped_column(Text, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    fails: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    estimate: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)


class DashboardState(Base):
    """How far the roll-ups have read: traces and results with larger ids are new."""

    __tablename__ = "dashboard_state"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    trace_watermark: Mapped[int] = mapped_column(BigInteger, server_default="0")
    result_watermark: Mapped[int] = mapped_column(BigInteger, server_default="0")
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DashboardHumanDay(Base):
    """Human labels (the one label rule) of a day's traces: how many were labelled, how many failed."""

    __tablename__ = "dashboard_human_day"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    release: Mapped[str] = mapped_column(Text, primary_key=True)
    environment: Mapped[str] = mapped_column(Text, primary_key=True)
    labelled: Mapped[int] = mapped_column(Integer)
    fails: Mapped[int] = mapped_column(Integer)


class DashboardAnnotationDay(Base):
    """Annotations made on a day by one annotator, and the time the workbench measured on them."""

    __tablename__ = "dashboard_annotation_day"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    annotator: Mapped[str] = mapped_column(Text, primary_key=True)
    annotations: Mapped[int] = mapped_column(Integer)
    timed: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[int] = mapped_column(BigInteger)
