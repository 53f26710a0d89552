"""HTML routes of the dashboard: one project's quality and trust, and the organisation overview."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.accounts import repository as accounts_repository
from app.accounts.access import CurrentUser, ProjectViewer
from app.core.deps import SessionDep
from app.core.templating import render
from app.core.types import Id
from app.dashboard import service

router = APIRouter(include_in_schema=False)

RangeQuery = Annotated[str | None, Query(alias="range")]
FromQuery = Annotated[str | None, Query(alias="from")]
ToQuery = Annotated[str | None, Query(alias="to")]


@router.get("/projects/{project_id}/dashboard", response_class=HTMLResponse)
def dashboard_page(project_id: Id, request: Request, session: SessionDep, ctx: ProjectViewer,
                   range_: RangeQuery = None, start: FromQuery = None, end: ToQuery = None,
                   release: str | None = None, environment: str | None = None) -> HTMLResponse:
    view = service.parse_view(range_, start, end, release, environment)
    return render(request, "dashboard/project.html", {
        "project": ctx.project, "nav": "dashboard", **service.project_page(session, project_id, view)})


@router.get("/dashboard", response_class=HTMLResponse)
def organisation_page(request: Request, session: SessionDep, user: CurrentUser,
                      range_: RangeQuery = None, start: FromQuery = None, end: ToQuery = None) -> HTMLResponse:
    view = service.parse_view(range_, start, end, None, None)
    projects = [project for project, _ in accounts_repository.projects_for_user(session, user.id)]
    return render(request, "dashboard/organisation.html", {
        "view": view, "rows": service.organisation(session, projects, view), "nav": "projects"})
