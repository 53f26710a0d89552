"""HTML routes of the evals domain."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.accounts.access import ProjectViewer
from app.core.templating import render_placeholder

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project_id}/evaluators", response_class=HTMLResponse)
def evaluators_page(project_id: int, request: Request, ctx: ProjectViewer) -> HTMLResponse:
    return render_placeholder(request, "evaluators", "Evaluators", "Evaluators generated from annotated failures, with their agreement with people (MCC on held-out examples) and their results on all traffic.")
