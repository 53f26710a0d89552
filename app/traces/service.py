"""Rules of the traces domain: ingestion into rows, and reading them back. Never commits."""

import base64
import hashlib
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.core.db import utcnow
from app.core.errors import NotFound, Unprocessable
from app.traces import repository
from app.traces.filters import (ANNOTATION_CHOICES, STATUS_CHOICES, VERDICT_CHOICES, FilterError, TraceFilter,
                                 parse_utc, read_filter)
from app.traces.models import Trace
from app.traces.repository import Rollup, TraceKey
from app.traces.schemas import TraceCreate
from app.traces.semconv import (MAX_LABEL_CHARS, RawSpan, SpanRecord, clean_text, fallback_kind, json_safe,
                                map_span, messages_text)


@dataclass(slots=True)
class IngestOutcome:
    trace_ids: list[int]
    stored: int
    duplicates: int


def ingest(session: Session, project_id: int, spans: Sequence[SpanRecord],
           explicit_traces: Iterable[TraceKey] = ()) -> IngestOutcome:
    """Store spans (and trace-level fields sent explicitly); idempotent."""
    spans = _unique_spans(spans)
    keys = _trace_keys(spans, explicit_traces)
    if not keys:
        return IngestOutcome(trace_ids=[], stored=0, duplicates=0)
    trace_ids, created = _write_traces(session, project_id, keys, spans)
    fresh = _not_stored(session, spans, trace_ids, created)
    if fresh:
        repository.insert_spans(session, _span_rows(fresh, trace_ids))
    _roll_up(session, [s for s in fresh if s.trace_id not in created], trace_ids)
    return IngestOutcome(trace_ids=sorted(trace_ids.values()), stored=len(fresh),
                         duplicates=len(spans) - len(fresh))


def _write_traces(session: Session, project_id: int, keys: list[TraceKey],
                  spans: Sequence[SpanRecord]) -> tuple[dict[str, int], set[str]]:
    """Row ids of the batch's traces, and which of them are new. A new trace goes in
    whole, roll-up included: one write. The others are upserted, which locks them until
    commit (a new one is ours alone until then anyway)."""
    created = repository.insert_new_traces(session, project_id, keys, _rollups(spans))
    older = [key for key in keys if key.external_id not in created]
    trace_ids = {**created, **(repository.upsert_traces(session, project_id, older) if older else {})}
    return trace_ids, set(created)


def _not_stored(session: Session, spans: Sequence[SpanRecord], trace_ids: dict[str, int],
                created: set[str]) -> list[SpanRecord]:
    """The spans not stored yet (a resent batch repeats some). As every trace of the batch
    is locked, no one else can store them meanwhile: they can go in by plain COPY."""
    older = [trace_ids[external_id] for external_id in trace_ids if external_id not in created]
    known = repository.stored_span_keys(session, older) if older else set()
    return [s for s in spans if (trace_ids[s.trace_id], s.span_id) not in known]


def _roll_up(session: Session, spans: Sequence[SpanRecord], trace_ids: dict[str, int]) -> None:
    """Add what new spans of traces stored before bring to those traces' roll-up."""
    rollups = _rollups(spans)
    for external_id, rollup in rollups.items():
        rollup.trace_id = trace_ids[external_id]
    repository.apply_rollups(session, list(rollups.values()))


def _unique_spans(spans: Sequence[SpanRecord]) -> list[SpanRecord]:
    """First copy of each (trace, span) pair: a batch may repeat a span."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for span in spans:
        key = (span.trace_id, span.span_id)
        if key not in seen:
            seen.add(key)
            unique.append(span)
    return unique


def _trace_keys(spans: Sequence[SpanRecord], explicit: Iterable[TraceKey]) -> list[TraceKey]:
    keys = {key.external_id: key for key in explicit}
    for span in spans:
        key = keys.setdefault(span.trace_id, TraceKey(span.trace_id))
        end = span.end_time or span.start_time
        key.start_time = min(key.start_time or span.start_time, span.start_time)
        key.end_time = max(key.end_time or end, end)
    now = utcnow()
    for key in keys.values():
        key.start_time = key.start_time or key.end_time or now
        key.end_time = max(key.end_time or key.start_time, key.start_time)
    return list(keys.values())


def _span_rows(spans: Sequence[SpanRecord], trace_ids: dict[str, int]) -> list[tuple]:
    return [(trace_ids[s.trace_id], *_span_values(s)) for s in spans]


_RECORD_FIELD = {"external_id": "span_id", "parent_external_id": "parent_span_id"}
# A record's values in `SPAN_COLUMNS` order after trace_id, read in one call.
_span_values = attrgetter(*(_RECORD_FIELD.get(column, column) for column in repository.SPAN_COLUMNS[1:]))


def _rollups(spans: Sequence[SpanRecord]) -> dict[str, Rollup]:
    """What the spans add to their traces, by trace id as sent (row ids come later)."""
    rollups: dict[str, Rollup] = {}
    for span in spans:
        rollup = rollups.get(span.trace_id) or rollups.setdefault(span.trace_id, Rollup(0))
        _add_span(rollup, span)
    for span in spans:  # what a span says of its whole trace outranks the root span's
        for name in ("name", "input", "output"):
            said = getattr(span, "trace_" + name)
            if said is not None:
                setattr(rollups[span.trace_id], name, said)
    return rollups


def _add_span(rollup: Rollup, span: SpanRecord) -> None:
    rollup.span_count += 1
    end = span.end_time or span.start_time
    rollup.start_time = min(rollup.start_time or span.start_time, span.start_time)
    rollup.end_time = max(rollup.end_time or end, end)
    rollup.tokens_in += span.tokens_in or 0
    rollup.tokens_out += span.tokens_out or 0
    if span.cost is not None:
        rollup.cost = (rollup.cost or 0.0) + span.cost
    rollup.has_error = rollup.has_error or span.status == "error"
    if span.model:
        rollup.models = sorted({*(rollup.models or ()), span.model})
    if span.tags:
        rollup.tags = sorted({*(rollup.tags or ()), *span.tags})
    if span.metadata:
        rollup.metadata = {**span.metadata, **(rollup.metadata or {})}
    for name in ("session_id", "user_id", "release", "environment"):
        if getattr(rollup, name) is None:
            setattr(rollup, name, getattr(span, name))
    if span.parent_span_id is None:
        rollup.root_seen = True
        rollup.name, rollup.input, rollup.output = span.name, span.input, span.output



# ---------------------------------------------------------------------------
# Reading


def parse_filter(values: Mapping[str, Any]) -> TraceFilter:
    """A trace filter from a URL, a form or a stored filter; a value it cannot read is a 422 that
    names the field."""
    try:
        return read_filter(values)
    except FilterError as error:
        raise Unprocessable(error.message, details={"field": error.field}) from None


def encode_cursor(value, row_id: int) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps([value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, row_id = json.loads(base64.urlsafe_b64decode(padded))
        if isinstance(value, dict):
            value = parse_utc(value["t"])
        if not isinstance(row_id, int) or not (value is None or isinstance(value, (int, float, datetime))):
            raise ValueError
        return value, row_id
    except (ValueError, TypeError, KeyError, binascii.Error, json.JSONDecodeError):
        raise Unprocessable("Invalid cursor; start again from the first page.") from None


def as_read_by(filters: TraceFilter, role: Role, actor: str) -> TraceFilter:
    """Annotators label blind: their filters on people's verdicts leave out the traces they
    have yet to judge in an open queue (admins and viewers judge nothing, so see all)."""
    return filters.seen_blind_by(actor) if role == Role.annotator and actor.startswith("user:") else filters


def list_traces(session: Session, project_id: int, filters: TraceFilter, *, limit: int = 50,
                cursor: str | None = None) -> tuple[list[Trace], str | None]:
    after = decode_cursor(cursor) if cursor else None
    rows = repository.list_traces(session, project_id, filters, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = encode_cursor(repository.sort_value(last, filters.sort), last.id)
    return page, next_cursor


def get_trace(session: Session, project_id: int, trace_id: int) -> Trace:
    trace = repository.get_trace(session, project_id, trace_id)
    if trace is None:
        raise NotFound("No such trace in this project.")
    return trace


# ---------------------------------------------------------------------------
# Native REST ingestion


def records_from_rest(traces: Sequence[TraceCreate]) -> tuple[list[SpanRecord], list[TraceKey]]:
    """Spans and explicit trace fields of a REST batch, cleaned like OTLP input.

    Span attributes go through the same semantic-convention mapping as OTLP, so a
    REST client may send OTel GenAI or OpenInference names; explicit fields win.
    """
    spans, keys = [], []
    for trace in traces:
        keys.append(TraceKey(
            external_id=_label(trace.id), name=_label(trace.name), session_id=_label(trace.session_id),
            user_id=_label(trace.user_id), release=_label(trace.release), environment=_label(trace.environment),
            tags=[t for t in map(_label, trace.tags) if t], metadata=json_safe(trace.metadata),
            input=_clean(trace.input), output=_clean(trace.output),
            start_time=trace.start_time, end_time=trace.end_time))
        spans.extend(_rest_span(trace.id, span) for span in trace.spans)
    return spans, keys


def _rest_span(trace_id: str, span) -> SpanRecord:
    raw = RawSpan(trace_id=_label(trace_id), span_id=_label(span.id), parent_span_id=_label(span.parent_id),
                  name=_label(span.name) or "span", start_time=span.start_time, end_time=span.end_time,
                  status=span.status, status_message=span.error, attributes=json_safe(span.attributes),
                  events=[], resource={}, scope=None)
    record = map_span(raw)
    explicit = {
        "kind": span.kind, "model": _label(span.model), "provider": _label(span.provider),
        "input": _clean(span.input), "output": _clean(span.output), "system": _clean(span.system),
        "input_messages": _messages(span.input_messages), "output_messages": _messages(span.output_messages),
        "tokens_in": span.tokens_in, "tokens_out": span.tokens_out, "tokens_cache_read": span.tokens_cache_read,
        "tokens_reasoning": span.tokens_reasoning, "cost": span.cost,
    }
    for name, value in explicit.items():
        if value is not None:
            setattr(record, name, value)
    if span.kind is None and record.kind == "span":
        record.kind = fallback_kind({f: getattr(record, f) for f in ("model", "tokens_in", "tokens_out",
                                                                     "input_messages", "output_messages")})
    if span.input_messages is not None and span.input is None:
        record.input = messages_text(record.input_messages)
    if span.output_messages is not None and span.output is None:
        record.output = messages_text(record.output_messages)
    return record


def _label(value: str | None) -> str | None:
    return clean_text(value.strip(), MAX_LABEL_CHARS) or None if value else None


def _clean(value: str | None) -> str | None:
    return clean_text(value) if value is not None else None


def _messages(messages) -> list[dict] | None:
    if messages is None:
        return None
    return json_safe([m.model_dump() for m in messages])


# ---------------------------------------------------------------------------
# Trace views: what people annotate and evaluators read


def evaluated_messages(trace: Trace, last_llm: tuple | None) -> list[dict]:
    """What evaluators read as a trace's `messages`: its latest LLM call's input and output
    messages as stored (the system prompt is a field of its own), else its input and output
    as one user/assistant exchange. Annotators see `annotations.service.shown_conversation`,
    which also shows the system prompt and drops items that are not messages."""
    if last_llm is not None:
        _, inputs, outputs = last_llm
        return list(inputs or []) + list(outputs or [])
    messages = []
    if trace.input:
        messages.append({"role": "user", "content": trace.input, "tool_calls": []})
    if trace.output:
        messages.append({"role": "assistant", "content": trace.output, "tool_calls": []})
    return messages


def trace_views(session: Session, trace_ids: Sequence[int]) -> dict[int, dict]:
    """Trace views in three queries, whatever the count: {id, input, output, messages,
    system, metadata, spans, group, start_time}; the group keeps one session (or one
    input) together."""
    traces = repository.traces_by_id(session, trace_ids)
    last_llm = repository.last_llm_spans(session, trace_ids)
    spans: dict[int, list[dict]] = {}
    for row in repository.span_facts(session, trace_ids):
        spans.setdefault(row.trace_id, []).append({
            "name": row.name, "kind": row.kind, "status": row.status, "error": row.error or "",
            "latency_ms": row.duration_ms, "tokens_in": row.tokens_in, "tokens_out": row.tokens_out,
            "tool_name": row.tool_name or "", "tool_arguments": row.tool_arguments or ""})
    views = {}
    for trace in traces:
        llm = last_llm.get(trace.id)
        views[trace.id] = {
            "id": str(trace.id), "input": trace.input or "", "output": trace.output or "",
            "messages": evaluated_messages(trace, llm), "system": (llm[0] if llm else None) or "",
            "metadata": {**trace.metadata_, **_trace_labels(trace)}, "spans": spans.get(trace.id, []),
            "group": trace.session_id or f"input:{hash_text(trace.input or trace.external_id)}",
            "start_time": trace.start_time,
        }
    return views


def _trace_labels(trace: Trace) -> dict:
    labels = {"trace.name": trace.name, "trace.release": trace.release, "trace.environment": trace.environment,
              "trace.models": ",".join(trace.models), "trace.tags": ",".join(trace.tags)}
    return {key: value for key, value in labels.items() if value}


def hash_text(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:16]


def filter_choices(session: Session, project_id: int) -> dict[str, dict[str, str]]:
    """The values a filter form offers for each field that has a fixed set (the rest are typed)."""
    options = repository.filter_options(session, project_id)
    return {"status": STATUS_CHOICES, "annotated": ANNOTATION_CHOICES,
            "evaluator": {str(k): v for k, v in options["evaluator"].items()},
            "evaluator_verdict": VERDICT_CHOICES,
            "issue": {str(k): f"#{k} {v}" for k, v in options["issue"].items()}}
