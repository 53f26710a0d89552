"""`GET /api/v1/exports/{kind}`: a project's traces, spans, annotations, eval results or issues,
streamed as JSONL or CSV, filtered by the one trace filter."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app.accounts.access import ProjectViewer
from app.audit import service as audit
from app.core.deps import get_session
from app.core.streaming import streamed
from app.exports import service
from app.traces import service as traces_service
from app.traces.filters import TraceFilter

router = APIRouter(tags=["exports"])

ExportKind = Literal["traces", "spans", "annotations", "eval-results", "issues"]
# Read while the response streams: "request" scope keeps the session open until the last byte.
StreamSessionDep = Annotated[Session, Depends(get_session, scope="request")]


@router.get("/exports/{kind}", summary="Export a project's rows as JSONL or CSV (streamed)",
            response_class=StreamingResponse,
            description="Traces in JSONL are in the shape `POST /api/v1/traces` takes, spans nested, so an "
                        "export imports again. `human_label` is the trace's label (adjudication, else the "
                        "annotators' majority). The trace filter applies to every kind but issues.")
def export(kind: ExportKind, ctx: ProjectViewer, session: StreamSessionDep,
           filters: Annotated[TraceFilter, Query()],
           format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl") -> StreamingResponse:
    fmt = format
    filters = traces_service.as_read_by(filters, ctx.role, ctx.actor)  # annotators stay blind
    # Recorded and committed before the first byte: an export that was asked for is on the record.
    audit.record(session, actor=ctx.actor, action="export.requested", target=f"export:{kind}",
                 project_id=ctx.project.id, data={"format": fmt, "filter": filters.model_dump(mode="json",
                                                                                          exclude_defaults=True)})
    session.commit()
    return streamed(service.rows(session, kind, ctx.project.id, filters, fmt), fmt, service.KINDS[kind].columns,
                    f"{kind}-project-{ctx.project.id}")
