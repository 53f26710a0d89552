"""HTML routes of the dashboard domain."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.accounts.access import ProjectViewer
from app.core.templating import render_placeholder

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project_id}/dashboard", response_class=HTMLResponse)
def dashboard_page(project_id: int, request: Request, ctx: ProjectViewer) -> HTMLResponse:
    return render_placeholder(request, "dashboard", "Dashboard", "Quality over time: failure rates per issue, evaluator agreement, and throughput, for the whole team.")
