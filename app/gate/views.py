"""HTML routes of the CI gate: runs per release, each run's report (polled while it runs)."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.accounts.access import ProjectAdmin, ProjectViewer
from app.core.deps import SessionDep
from app.accounts.models import Role
from app.core.errors import Unprocessable
from app.core.templating import is_partial, redirect, render
from app.core.types import Id
from app.gate import repository, service
from app.gate.schemas import GateThresholds

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project_id}/gate-runs", response_class=HTMLResponse)
def runs_page(project_id: Id, request: Request, session: SessionDep, ctx: ProjectViewer,
              release: str | None = None) -> HTMLResponse:
    runs = repository.runs_of(session, project_id, release or None)
    return render(request, "gate/list.html", {
        "project": ctx.project, "runs": runs, "release": release or "", "nav": "dashboard",
        "thresholds": service.thresholds(session, project_id), "is_admin": ctx.role.at_least(Role.admin)})


@router.post("/projects/{project_id}/gate-settings")
def save_thresholds(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin,
                    max_increase_points: Annotated[float, Form()], min_sample: Annotated[int, Form()]) -> Response:
    try:
        values = GateThresholds(max_increase=max_increase_points / 100, min_sample=min_sample)
    except ValueError:
        raise Unprocessable("The allowed increase is 0–100 points and the minimum sample at least 1.") from None
    service.set_thresholds(session, project_id, values)
    return redirect(f"/projects/{project_id}/gate-runs", request)


@router.get("/projects/{project_id}/gate-runs/{run_id}", response_class=HTMLResponse)
def run_page(project_id: Id, run_id: Id, request: Request, session: SessionDep,
             ctx: ProjectViewer) -> HTMLResponse:
    run = service.get_run(session, project_id, run_id)
    context = {"project": ctx.project, "run": run, "nav": "dashboard",
               "in_progress": run.status in service.IN_PROGRESS}
    return render(request, "gate/_report.html" if is_partial(request) else "gate/run.html", context)
