"""The audit page of a project: filtered, paged by keyset, exported as CSV or JSONL."""

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.accounts.access import ProjectAdmin
from app.audit import repository
from app.audit.repository import AuditFilter
from app.core.deps import SessionDep, get_session
from app.core.errors import Unprocessable
from app.core.streaming import check_format, streamed
from app.core.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# The export is read while the response streams, so its session must outlive the endpoint:
# "request" scope closes it after the last byte, not before the first.
StreamSessionDep = Annotated[Session, Depends(get_session, scope="request")]


def _day(value: str, field: str) -> date | None:
    # Empty means "no bound": the filter form always sends both date fields.
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise Unprocessable(f"{field} must be a date (YYYY-MM-DD)", details={"field": field}) from None


def audit_filter(actor: str = "", action: str = "", target: str = "", since: str = "",
                 until: str = "") -> AuditFilter:
    return AuditFilter(actor=actor.strip(), action=action.strip(), target=target.strip(),
                       since=_day(since, "since"), until=_day(until, "until"))


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]


def parse_cursor(before: str | None) -> tuple[datetime, int] | None:
    """The cursor is "<ISO time>_<id>" of the last event shown."""
    if not before:
        return None
    at, _, event_id = before.rpartition("_")
    try:
        return datetime.fromisoformat(at), int(event_id)
    except ValueError:
        raise Unprocessable("the page cursor is not valid", details={"field": "before"}) from None


@router.get("/projects/{project_id}/audit", response_class=HTMLResponse)
def audit_page(project_id: int, request: Request, session: SessionDep, ctx: ProjectAdmin, where: FilterDep,
               before: str | None = None) -> Response:
    events, after = repository.page(session, project_id, where, before=parse_cursor(before), size=PAGE_SIZE)
    return render(request, "audit/list.html",
                  {"project": ctx.project, "events": events, "where": where, "nav": "audit",
                   "next_cursor": f"{after[0].isoformat()}_{after[1]}" if after else None})


@router.get("/projects/{project_id}/audit/export")
def audit_export(project_id: int, session: StreamSessionDep, ctx: ProjectAdmin, where: FilterDep,
                 format: Annotated[str, Query()] = "jsonl") -> Response:
    fmt = check_format(format)
    return streamed(repository.stream(session, project_id, where), fmt, repository.EXPORT_COLUMNS,
                    f"audit-project-{project_id}")
