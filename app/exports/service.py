"""What each export kind is: its statement, its columns, and how a row is written.

A trace in JSONL is written in the shape `POST /api/v1/traces` takes (its `id` is your id
for it, its spans nested), so an export can be imported again; `sextant_id` and the
computed facts (duration, tokens, human label) ride along and are ignored on import.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Select
from sqlalchemy.orm import Session

from app.exports import repository
from app.traces.filters import TraceFilter


@dataclass(frozen=True)
class Kind:
    statement: Callable[[int, TraceFilter], Select]
    columns: tuple[str, ...]


def _names(columns) -> tuple[str, ...]:
    return tuple(c.key for c in columns)


KINDS = {
    "traces": Kind(repository.traces, _names(repository.TRACE_COLUMNS)),
    "spans": Kind(repository.spans, _names(repository.SPAN_COLUMNS)),
    "annotations": Kind(repository.annotations, _names(repository.ANNOTATION_COLUMNS)),
    "eval-results": Kind(repository.eval_results, _names(repository.EVAL_RESULT_COLUMNS)),
    "issues": Kind(repository.issues, _names(repository.ISSUE_COLUMNS)),
}


def rows(session: Session, kind: str, project_id: int, filters: TraceFilter, fmt: str) -> Iterator[dict]:
    """The export's rows, one dict each, streamed; traces in JSONL carry their spans."""
    batches = repository.stream(session, KINDS[kind].statement(project_id, filters))
    for batch in batches:
        if kind == "traces" and fmt == "jsonl":
            yield from _importable_traces(session, batch)
        else:
            yield from batch


def _importable_traces(session: Session, batch: list[dict]) -> Iterator[dict]:
    spans = repository.spans_of_traces(session, [row["id"] for row in batch])
    for row in batch:
        trace = {"id": row["external_id"], "sextant_id": row["id"],
                 **{k: v for k, v in row.items() if k not in ("id", "external_id")}}
        trace["spans"] = [_importable_span(span) for span in spans.get(row["id"], [])]
        yield trace


def _importable_span(span: dict) -> dict:
    return {"id": span["external_id"], "parent_id": span["parent_external_id"],
            **{k: v for k, v in span.items() if k not in ("external_id", "parent_external_id")}}
