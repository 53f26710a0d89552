"""Trace ingestion (OTLP/HTTP and native REST) and reads, under /v1 and /api/v1."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app import loop
from app.accounts.access import ProjectAnnotator, ProjectViewer
from app.core.deps import SessionDep
from app.core.errors import AppError, NotFound
from app.core.settings import limits_settings
from app.core.types import Id
from app.traces import otlp, repository, service
from app.traces.filters import TraceFilter
from app.traces.schemas import IngestResult, TraceBatchCreate, TraceDetail, TracePage, TraceRead

otlp_router = APIRouter(tags=["ingestion"])
router = APIRouter(tags=["traces"])


class OtlpRequestError(AppError):
    """A body OTLP cannot read: 400, 413 or 415 as the decoder says."""

    code = "invalid_otlp"

    def __init__(self, error: otlp.OtlpDecodeError):
        super().__init__(str(error))
        self.status_code = error.status_code
        self.code = {413: "payload_too_large", 415: "unsupported_media_type"}.get(error.status_code, "invalid_otlp")


async def otlp_body(request: Request) -> tuple[bytes, str | None, str | None]:
    content_type = request.headers.get("content-type")
    try:
        otlp.encoding_for(content_type)  # 415 before reading a body we cannot use
    except otlp.OtlpDecodeError as error:
        raise OtlpRequestError(error) from None
    return await request.body(), content_type, request.headers.get("content-encoding")


LANGFUSE_OTLP_PATH = "/api/public/otel/v1/traces"


@otlp_router.post(LANGFUSE_OTLP_PATH, include_in_schema=False, response_class=Response)
@otlp_router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export",
    description="Point an OpenTelemetry exporter here (`OTEL_EXPORTER_OTLP_ENDPOINT=http://host:port`, "
                "header `Authorization=Bearer sx_…`). Protobuf or JSON, gzip or not. Answers 200 only "
                "once the spans are committed; spans that cannot be stored are reported as partial success.",
    response_class=Response,
)
def export_traces(ctx: ProjectAnnotator, session: SessionDep,
                  payload: Annotated[tuple, Depends(otlp_body)]) -> Response:
    body, content_type, content_encoding = payload
    try:
        decoded = otlp.decode_export(body, content_type, content_encoding,
                                     max_bytes=limits_settings().max_body_bytes * 4)
    except otlp.OtlpDecodeError as error:
        raise OtlpRequestError(error) from None
    if decoded.spans:
        loop.ingest(session, ctx.project.id, decoded.spans)
    answer = otlp.build_response(len(decoded.rejected), decoded.error_message(), decoded.encoding)
    return Response(answer, media_type=otlp.CONTENT_TYPES[decoded.encoding])


@otlp_router.post(
    "/v1/metrics",
    summary="OTLP/HTTP metrics export (accepted, not stored)",
    description="Accepted so that an SDK exporting metrics alongside traces stops logging errors: the answer is "
                "a partial success rejecting every data point, as metrics are not stored (token counts, cost and "
                "durations come from the spans).",
    response_class=Response,
)
def export_metrics(ctx: ProjectAnnotator, payload: Annotated[tuple, Depends(otlp_body)]) -> Response:
    body, content_type, content_encoding = payload
    try:
        answer, encoding = otlp.metrics_response(body, content_type, content_encoding,
                                                 max_bytes=limits_settings().max_body_bytes * 4)
    except otlp.OtlpDecodeError as error:
        raise OtlpRequestError(error) from None
    return Response(answer, media_type=otlp.CONTENT_TYPES[encoding])


@otlp_router.api_route("/api/public/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                       include_in_schema=False)
def langfuse_api_not_served(rest: str) -> None:
    """The Langfuse SDK's other calls (prompts, scores, datasets, ...): a clear JSON 404."""
    raise NotFound(f"Sextant serves only Langfuse's trace export ({LANGFUSE_OTLP_PATH}); "
                   f"/api/public/{rest} is a Langfuse API it does not offer.")


@router.post("/traces", response_model=IngestResult, summary="Ingest traces with their spans (native REST)")
def ingest_traces(batch: TraceBatchCreate, ctx: ProjectAnnotator, session: SessionDep) -> IngestResult:
    spans, keys = service.records_from_rest(batch.traces)
    outcome = loop.ingest(session, ctx.project.id, spans, keys)
    return IngestResult(traces=len(outcome.trace_ids), spans_stored=outcome.stored,
                        spans_duplicate=outcome.duplicates)


@router.get("/traces", response_model=TracePage, summary="List traces (filters, keyset pagination)")
def list_traces(
    ctx: ProjectViewer, session: SessionDep, filters: Annotated[TraceFilter, Query()],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> TracePage:
    items, next_cursor = service.list_traces(session, ctx.project.id, service.as_read_by(filters, ctx.role, ctx.actor),
                                             limit=limit, cursor=cursor)
    return TracePage(items=[TraceRead.model_validate(t) for t in items], next_cursor=next_cursor)


@router.get("/traces/by-external-id/{external_id}", response_model=TraceDetail,
            summary="One trace by the id your app gave it")
def get_trace_by_external_id(external_id: str, ctx: ProjectViewer, session: SessionDep) -> TraceDetail:
    trace = repository.get_trace_by_external_id(session, ctx.project.id, external_id)
    if trace is None:
        raise NotFound("No such trace in this project.")
    return _detail(session, trace)


@router.get("/traces/{trace_id}", response_model=TraceDetail, summary="One trace with its spans")
def get_trace(trace_id: Id, ctx: ProjectViewer, session: SessionDep) -> TraceDetail:
    return _detail(session, service.get_trace(session, ctx.project.id, trace_id))


def _detail(session, trace) -> TraceDetail:
    spans = repository.spans_of(session, trace.id)
    return TraceDetail(**TraceRead.model_validate(trace).model_dump(), spans=spans)
