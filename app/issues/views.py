"""HTML routes of the issues domain."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.accounts.access import ProjectViewer
from app.core.templating import render_placeholder

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project_id}/issues", response_class=HTMLResponse)
def issues_page(project_id: int, request: Request, ctx: ProjectViewer) -> HTMLResponse:
    return render_placeholder(request, "issues", "Issues", "Failure modes found by annotators, on a board with their lifecycle: new, ongoing, escalating, resolved, regressed, ignored.")
