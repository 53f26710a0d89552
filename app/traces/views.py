"""HTML routes of the traces domain."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.accounts.access import ProjectViewer
from app.core.templating import render_placeholder

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project_id}/traces", response_class=HTMLResponse)
def traces_page(project_id: int, request: Request, ctx: ProjectViewer) -> HTMLResponse:
    return render_placeholder(request, "traces", "Traces", "Every trace your app sends, searchable and filterable, with its span tree, messages, tokens and cost. Send traces over OTLP or the REST API with a project API key.")
