"""JSON routes of the CI gate, under /api/v1.

A file run takes three calls (what `sextant gate --file` does): create it, send the
outputs as JSON lines in as many chunks as needed (each within the body limit), start it.
A traces run is one call. Then poll GET /gate-runs/{id} until its status is done.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from sqlalchemy.orm import Session

from app.accounts.access import ProjectAdmin, ProjectAnnotator, ProjectContext, ProjectViewer
from app.accounts.models import ApiKey
from app.core.deps import SessionDep
from app.core.types import Id
from app.gate import flows, repository, service
from app.gate.schemas import (GateRunCreate, GateRunRead, GateRunSummary, GateThresholds, GateThresholdsRead,
                              OutputsReceived)

router = APIRouter(tags=["gate"])


def trigger_of(session: Session, ctx: ProjectContext) -> str:
    principal = ctx.principal
    if principal.api_key is not None:
        key = session.get(ApiKey, principal.api_key.id)
        return f"API key {key.prefix}… ({key.name or 'unnamed'})"
    return principal.user.email if principal.user is not None else ""


async def ndjson_body(request: Request) -> bytes:
    return await request.body()


@router.post("/gate-runs", response_model=GateRunRead, status_code=status.HTTP_201_CREATED,
             summary="Start a gate run: a candidate release against a baseline")
def create_run(body: GateRunCreate, ctx: ProjectAnnotator, session: SessionDep):
    return flows.create_run(session, ctx.project.id, body, trigger=trigger_of(session, ctx))


@router.post("/gate-runs/{run_id}/outputs", response_model=OutputsReceived,
             summary="Add a chunk of candidate outputs (JSON lines: id, input, output, messages?, metadata?)",
             openapi_extra={"requestBody": {"content": {"application/x-ndjson": {}}}})
def add_outputs(run_id: Id, ctx: ProjectAnnotator, session: SessionDep,
                body: Annotated[bytes, Depends(ndjson_body)]):
    rows = service.parse_outputs(body)
    run = service.add_outputs(session, service.get_run(session, ctx.project.id, run_id, for_update=True), rows)
    return OutputsReceived(received=len(rows), total=run.total)


@router.post("/gate-runs/{run_id}/start", response_model=GateRunRead, status_code=status.HTTP_202_ACCEPTED,
             summary="Every output is in: evaluate them in the worker")
def start_run(run_id: Id, ctx: ProjectAnnotator, session: SessionDep):
    return flows.start(session, service.get_run(session, ctx.project.id, run_id, for_update=True))


@router.get("/gate-runs/{run_id}", response_model=GateRunRead, summary="A gate run: progress, then its report")
def get_run(run_id: Id, ctx: ProjectViewer, session: SessionDep):
    return service.get_run(session, ctx.project.id, run_id)


@router.get("/gate-runs", response_model=list[GateRunSummary], summary="Gate runs, newest first (no reports)")
def list_runs(ctx: ProjectViewer, session: SessionDep, release: str | None = None):
    return repository.runs_of(session, ctx.project.id, release)


@router.get("/gate-settings", response_model=GateThresholdsRead)
def get_thresholds(ctx: ProjectViewer, session: SessionDep):
    return service.thresholds(session, ctx.project.id)


@router.put("/gate-settings", response_model=GateThresholdsRead)
def set_thresholds(body: GateThresholds, ctx: ProjectAdmin, session: SessionDep):
    return service.set_thresholds(session, ctx.project.id, body)
