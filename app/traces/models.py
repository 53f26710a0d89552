"""Traces and spans.

A span is keyed by (trace, span id) and a trace by (project, trace id), so a
resent batch stores nothing twice. The trace row carries a roll-up of its spans
(time range, tokens, cost, error flag, models, the root's name/input/output),
kept current as spans arrive, so the explorer never aggregates spans on read.

Full-text search is filled after ingestion, in batches (`search_pending`), never
on the ingestion path: a GIN-indexed tsvector costs ten times the insert rate.
"""

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, Computed, DateTime, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin

DURATION_MS = "EXTRACT(EPOCH FROM (end_time - start_time)) * 1000"


class Trace(IdMixin, Base):
    __tablename__ = "trace"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id"),
        # Keyset pagination of the explorer, one index per sortable column.
        Index("ix_trace_project_start", "project_id", text("start_time DESC"), text("id DESC")),
        Index("ix_trace_project_duration", "project_id", "duration_ms", "id"),
        Index("ix_trace_project_tokens", "project_id", "tokens_total", "id"),
        Index("ix_trace_project_cost", "project_id", text("COALESCE(cost, 0)"), "id"),
        # Selective filters, each ordered by time.
        Index("ix_trace_project_session", "project_id", "session_id", "start_time"),
        Index("ix_trace_project_user", "project_id", "user_id", "start_time"),
        Index("ix_trace_project_name", "project_id", "name", "start_time"),
        Index("ix_trace_project_release", "project_id", "release", "start_time"),
        Index("ix_trace_project_errors", "project_id", text("start_time DESC"),
              postgresql_where=text("has_error")),
        # Failed traces under the other sorts: "errors, slowest first" then reads a few
        # hundred entries instead of the whole sort index for the 3% that failed.
        Index("ix_trace_project_errors_duration", "project_id", "duration_ms", "id",
              postgresql_where=text("has_error")),
        Index("ix_trace_project_errors_tokens", "project_id", "tokens_total", "id",
              postgresql_where=text("has_error")),
        Index("ix_trace_project_errors_cost", "project_id", text("COALESCE(cost, 0)"), "id",
              postgresql_where=text("has_error")),
        Index("ix_trace_tags", "tags", postgresql_using="gin"),
        Index("ix_trace_models", "models", postgresql_using="gin"),
        Index("ix_trace_search", "search", postgresql_using="gin"),
        Index("ix_trace_search_pending", "id", postgresql_where=text("search_pending")),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(256))
    name: Mapped[str | None] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(Text)
    release: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    models: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    metadata_: Mapped[dict] = mapped_column("metadata", JSONB, server_default="{}")
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    # Never null: the earliest span start, an explicit time, or the time of ingestion.
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[float] = mapped_column(Float, Computed(DURATION_MS, persisted=True))
    span_count: Mapped[int] = mapped_column(Integer, server_default="0")
    tokens_in: Mapped[int] = mapped_column(BigInteger, server_default="0")
    tokens_out: Mapped[int] = mapped_column(BigInteger, server_default="0")
    tokens_total: Mapped[int] = mapped_column(BigInteger, Computed("tokens_in + tokens_out", persisted=True))
    cost: Mapped[float | None] = mapped_column(Float)
    has_error: Mapped[bool] = mapped_column(Boolean, server_default="false")
    root_seen: Mapped[bool] = mapped_column(Boolean, server_default="false")
    search: Mapped[str | None] = mapped_column(TSVECTOR)
    search_pending: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Span(IdMixin, Base):
    __tablename__ = "span"
    __table_args__ = (UniqueConstraint("trace_id", "external_id"),)

    trace_id: Mapped[int] = mapped_column(ForeignKey("trace.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(256))
    parent_external_id: Mapped[str | None] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    error: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(Text)
    operation: Mapped[str | None] = mapped_column(Text)
    tool_name: Mapped[str | None] = mapped_column(Text)
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    input_messages: Mapped[list | None] = mapped_column(JSONB)
    output_messages: Mapped[list | None] = mapped_column(JSONB)
    system: Mapped[str | None] = mapped_column(Text)
    tokens_in: Mapped[int | None] = mapped_column(BigInteger)
    tokens_out: Mapped[int | None] = mapped_column(BigInteger)
    tokens_cache_read: Mapped[int | None] = mapped_column(BigInteger)
    tokens_cache_write: Mapped[int | None] = mapped_column(BigInteger)
    tokens_reasoning: Mapped[int | None] = mapped_column(BigInteger)
    cost: Mapped[float | None] = mapped_column(Float)
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[float | None] = mapped_column(Float, Computed(DURATION_MS, persisted=True))
    attributes: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    resource: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    events: Mapped[list] = mapped_column(JSONB, server_default="[]")
    metadata_: Mapped[dict] = mapped_column("metadata", JSONB, server_default="{}")
    scope: Mapped[str | None] = mapped_column(Text)
