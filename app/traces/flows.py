"""Orchestration around traces: ingestion and what follows it."""

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from app.annotations import repository as annotations_repository
from app.annotations import tasks as annotations_tasks
from app.evals import flows as evals_flows
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
    """New or updated traces: index them for search (coalesced), offer them to live queues."""
    tasks.index_search.enqueue(session, coalesce_seconds=SEARCH_INDEX_DELAY_S)
    if annotations_repository.live_queues(session, project_id):
        annotations_tasks.sample_live.enqueue(session, project_id, list(trace_ids))
    evals_flows.traces_ingested(session, project_id, trace_ids)
