"""Orchestration around traces: ingestion and its search indexing. What a new trace sets in
motion in other domains (live queues, online evaluation) is in `app/loop.py`."""

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from app.traces import service, tasks
from app.traces.repository import TraceKey
from app.traces.semconv import SpanRecord
from app.traces.service import IngestOutcome

SEARCH_INDEX_DELAY_S = 2.0


def ingest(session: Session, project_id: int, spans: Sequence[SpanRecord],
           explicit_traces: Iterable[TraceKey] = ()) -> IngestOutcome:
    outcome = service.ingest(session, project_id, spans, explicit_traces)
    if outcome.trace_ids:
        traces_changed(session, project_id, outcome.trace_ids)
    return outcome


def traces_changed(session: Session, project_id: int, trace_ids: Sequence[int]) -> None:
    """New or updated traces: index them for search (coalesced)."""
    tasks.index_search.enqueue(session, coalesce_seconds=SEARCH_INDEX_DELAY_S)
