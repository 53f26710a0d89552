"""REST shapes of the traces domain (native ingestion and reads)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from app.core.types import Timestamp
from app.traces.semconv import MAX_TOKEN_COUNT

SpanKind = Literal["llm", "embedding", "tool", "agent", "chain", "retriever", "reranker", "guardrail",
                   "evaluator", "span"]
MAX_SPANS_PER_REQUEST = 10_000
MAX_TRACES_PER_REQUEST = 1_000


# Ids are stored trimmed and without NUL (Postgres text cannot hold one): something must remain.
VISIBLE = r"[^\x00\s]"


class ToolCall(BaseModel):
    id: str | None = None
    name: str
    arguments: str = ""


class Message(BaseModel):
    role: str = Field(description="system, user, assistant or tool")
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None


class SpanCreate(BaseModel):
    """One step of a trace: an LLM call, a tool call, a retrieval, ..."""

    id: str = Field(min_length=1, max_length=256, pattern=VISIBLE, description="Unique within its trace")
    parent_id: str | None = Field(default=None, max_length=256)
    name: str = Field(min_length=1, max_length=512)
    kind: SpanKind | None = Field(default=None, description="Derived from attributes when left out")
    start_time: Timestamp
    end_time: Timestamp | None = None
    status: Literal["ok", "error", "unset"] = "unset"
    error: str | None = None
    model: str | None = Field(default=None, max_length=512)
    provider: str | None = Field(default=None, max_length=512)
    input: str | None = None
    output: str | None = None
    input_messages: list[Message] | None = None
    output_messages: list[Message] | None = None
    system: str | None = None
    tokens_in: int | None = Field(default=None, ge=0, le=MAX_TOKEN_COUNT)
    tokens_out: int | None = Field(default=None, ge=0, le=MAX_TOKEN_COUNT)
    tokens_cache_read: int | None = Field(default=None, ge=0, le=MAX_TOKEN_COUNT)
    tokens_reasoning: int | None = Field(default=None, ge=0, le=MAX_TOKEN_COUNT)
    cost: float | None = Field(default=None, ge=0, le=1e9, description="USD")
    attributes: dict[str, Any] = Field(default_factory=dict,
                                       description="Raw attributes; OTel GenAI / OpenInference names are mapped too")


class TraceCreate(BaseModel):
    """One request of your app, with its spans (or none, for a flat record)."""

    id: str = Field(min_length=1, max_length=256, pattern=VISIBLE,
                    description="Your id for the trace; resending it is idempotent")
    name: str | None = Field(default=None, max_length=512)
    session_id: str | None = Field(default=None, max_length=512)
    user_id: str | None = Field(default=None, max_length=512)
    release: str | None = Field(default=None, max_length=512)
    environment: str | None = Field(default=None, max_length=512)
    tags: list[str] = Field(default_factory=list, max_length=100)
    metadata: dict[str, Any] = Field(default_factory=dict)
    input: str | None = None
    output: str | None = None
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    spans: list[SpanCreate] = Field(default_factory=list, max_length=MAX_SPANS_PER_REQUEST)


class TraceBatchCreate(BaseModel):
    traces: list[TraceCreate] = Field(min_length=1, max_length=MAX_TRACES_PER_REQUEST)


class IngestResult(BaseModel):
    traces: int = Field(description="Traces created or updated")
    spans_stored: int
    spans_duplicate: int = Field(description="Spans already stored (resent), left unchanged")


class SpanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    parent_external_id: str | None
    name: str
    kind: str
    status: str
    error: str | None
    model: str | None
    provider: str | None
    tool_name: str | None
    input: str | None
    output: str | None
    input_messages: list | None
    output_messages: list | None
    system: str | None
    tokens_in: int | None
    tokens_out: int | None
    tokens_cache_read: int | None
    tokens_cache_write: int | None
    tokens_reasoning: int | None
    cost: float | None
    start_time: datetime
    end_time: datetime | None
    duration_ms: float | None
    attributes: dict


class TraceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    name: str | None
    session_id: str | None
    user_id: str | None
    release: str | None
    environment: str | None
    tags: list[str]
    models: list[str]
    metadata: dict = Field(validation_alias=AliasChoices("metadata_", "metadata"))
    input: str | None
    output: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration_ms: float | None
    span_count: int
    tokens_in: int
    tokens_out: int
    cost: float | None
    has_error: bool


class TraceDetail(TraceRead):
    spans: list[SpanRead]


class TracePage(BaseModel):
    items: list[TraceRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
