"""Jinja2 templates (autoescape on: trace content is hostile input)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from app.core import heartbeat
from app.core.errors import AppError, is_htmx
from app.core.formatting import register_filters

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["worker_running"] = heartbeat.worker_running
register_filters(templates.env)


@dataclass(frozen=True)
class LayoutUser:
    id: int
    display_name: str


@dataclass(frozen=True)
class LayoutProject:
    id: int
    name: str


def remember_for_layout(request: Request, *, user=None, project=None, role=None) -> None:
    """Keep what the base layout shows as plain values, not ORM rows: an error page is
    rendered after the request's session rolled back and closed, when rows are detached."""
    if user is not None:
        request.state.user = LayoutUser(id=user.id, display_name=user.display_name)
    if project is not None:
        request.state.nav_project = LayoutProject(id=project.id, name=project.name)
    if role is not None:
        request.state.role = role


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    ctx = {"user": getattr(request.state, "user", None),
           "nav_project": getattr(request.state, "nav_project", None),
           "role": getattr(request.state, "role", None)}
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)


def form_error(request: Request, session: Session, error: AppError, template: str,
               context: Mapping[str, Any] | Callable[[], Mapping[str, Any]]) -> HTMLResponse:
    """A refused form comes back as typed, with the refusal's message and status.

    The request's transaction is rolled back first, so nothing half-written is committed; pass
    `context` as a function when building it reads the database, so it reads after the rollback.
    """
    session.rollback()
    shown = context() if callable(context) else context
    return render(request, template, {**shown, "error": error.message, "error_field": error.field},
                  status_code=error.status_code)


def render_error(request: Request, status: int, message: str,
                 headers: dict[str, str] | None = None) -> HTMLResponse:
    headers = dict(headers or {})
    if request.headers.get("hx-request") == "true":
        # Show the message in the page's flash area, whatever the request targeted.
        headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return render(request, "partials/flash.html", {"message": message, "status": status},
                      status_code=status, headers=headers)
    return render(request, "error.html", {"message": message, "status": status},
                  status_code=status, headers=headers)


def render_placeholder(request: Request, nav: str, heading: str, description: str) -> HTMLResponse:
    """A page of an area still to come, saying what it will hold."""
    return render(request, "placeholder.html", {"nav": nav, "heading": heading, "description": description})


def redirect(url: str, request: Request) -> Response:
    """Navigate the browser: HX-Redirect for HTMX requests, 303 otherwise."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def is_partial(request: Request) -> bool:
    """An HTMX swap; a history restore (back button, cache miss) needs the whole page."""
    return is_htmx(request) and request.headers.get("hx-history-restore-request") != "true"
