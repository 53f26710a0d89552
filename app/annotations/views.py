"""HTML routes of the annotations domain."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.accounts.access import ProjectViewer
from app.core.templating import render_placeholder

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project_id}/queues", response_class=HTMLResponse)
def queues_page(project_id: int, request: Request, ctx: ProjectViewer) -> HTMLResponse:
    return render_placeholder(request, "queues", "Annotation queues", "Queues of sampled traces for domain experts to review: pass or fail, written feedback and failure modes, keyboard first.")
