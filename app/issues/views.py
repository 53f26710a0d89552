"""HTML routes of the issues domain: the board, the issue page, webhooks, notifications.

The board's columns are the lifecycle states. A card moves by drag and drop
(static/js/board.js) or by its "Move to…" menu (plain HTMX buttons, usable by keyboard);
both post the same transition, so the state machine's rules apply either way. Moves
that need a reason open a small form first. Issue titles, feedback and trace text are
user data: templates keep them escaped.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app import loop
from app.accounts.access import ProjectAdmin, ProjectAnnotator, ProjectContext, ProjectViewer
from app.accounts.models import Role
from app.annotations import service as annotations
from app.core.db import utcnow
from app.core.deps import SessionDep
from app.core.errors import AppError, is_htmx
from app.core.templating import form_error, redirect, render, templates
from app.core.types import Id
from app.issues import alerts, flows, lifecycle, repository, service, stats, suggestions, webhooks
from app.issues.deps import IssueDep, WebhookDep
from app.issues.lifecycle import Actor, State
from app.traces import repository as traces_repository

router = APIRouter(include_in_schema=False)

FormStr = Annotated[str, Form()]
FormList = Annotated[list[str], Form()]

COLUMNS = (State.NEW, State.ONGOING, State.ESCALATING, State.REGRESSED, State.RESOLVED, State.IGNORED)
SORTS = {"last_seen": "Last seen", "occurrences": "Occurrences", "trend": "Trend"}
EXAMPLES = 20
SPARK_WIDTH, SPARK_HEIGHT = 112, 24


# ---------------------------------------------------------------------------
# Template helpers


def sparkline_points(values: list[int], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> str:
    """SVG polyline points for a trend, scaled to the box (a flat line at the bottom when all zero)."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values))


templates.env.filters["sparkline_points"] = sparkline_points


def user_moves(state: str) -> list[tuple[str, bool]]:
    """(target, needs a reason) for every move a person may make from `state`."""
    return [(t.to_state.value, t.needs_reason) for t in lifecycle.TRANSITIONS
            if t.from_state == state and t.actor is Actor.USER]


templates.env.globals["issue_user_moves"] = user_moves



# ---------------------------------------------------------------------------
# The board


@dataclass
class BoardQuery:
    states: list[str]
    q: str
    has_evaluator: bool | None
    sort: str

    @classmethod
    def build(cls, states: list[str], q: str, has_evaluator: str, sort: str) -> "BoardQuery":
        """From the filter form's fields (query string or posted with a move); unknown values are ignored."""
        states = [s for s in states if s in {c.value for c in COLUMNS}]
        has = {"yes": True, "no": False}.get(has_evaluator)
        return cls(states, (q or "").strip()[:200], has, sort if sort in SORTS else "last_seen")

    @property
    def has_evaluator_value(self) -> str:
        return {True: "yes", False: "no"}.get(self.has_evaluator, "")


def board_context(session: Session, ctx: ProjectContext, query: BoardQuery) -> dict:
    project_id = ctx.project.id
    issues = repository.board_issues(session, project_id, states=query.states, text_=query.q,
                                     has_evaluator=query.has_evaluator)
    figures = stats.figures(session, project_id, [i.id for i in issues], utcnow())
    ordered = stats.sort_issues(issues, figures, query.sort)
    shown = [s for s in COLUMNS if not query.states or s.value in query.states]
    columns = [(state.value, [i for i in ordered if i.state == state.value]) for state in shown]
    suggestions = repository.open_suggestions(session, project_id)
    titles = {i.id: i.title for i in repository.issues_by_id(
        session, project_id, sorted({s.issue_id for s in suggestions if s.issue_id}))}
    return {"project": ctx.project, "columns": columns, "figures": figures, "query": query, "sorts": SORTS,
            "all_states": [s.value for s in COLUMNS], "suggestions": suggestions, "suggestion_titles": titles,
            "can_edit": ctx.role.at_least(Role.annotator), "nav": "issues"}


@router.get("/projects/{project_id}/issues", response_class=HTMLResponse)
def board_page(project_id: Id, request: Request, session: SessionDep, ctx: ProjectViewer,
               state: Annotated[list[str], Query()] = [], q: str = "", has_evaluator: str = "",
               sort: str = "last_seen") -> Response:
    context = board_context(session, ctx, BoardQuery.build(state, q, has_evaluator, sort))
    if is_htmx(request) and request.headers.get("hx-target") == "board":
        return render(request, "issues/_board.html", context)
    return render(request, "issues/board.html", context)


@router.post("/projects/{project_id}/issues")
def create_issue(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAnnotator,
                       title: FormStr, description: Annotated[str, Form()] = "") -> Response:
    try:
        issue = service.create_issue(session, ctx.project.id, title, actor=ctx.actor, description=description,
                                     created_by_id=ctx.user.id if ctx.user else None)
    except AppError as error:
        return form_error(request, session, error, "issues/_create_form.html",
                          {"project": ctx.project, "title": title, "description": description})
    return redirect(f"/projects/{project_id}/issues/{issue.id}", request)


@router.get("/projects/{project_id}/issues/{issue_id}/move", response_class=HTMLResponse)
def move_form(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAnnotator, issue: IssueDep,
              to: str, view: str = "board") -> Response:
    """The small form asking why (resolve: what was fixed, which release; ignore: why it does not matter)."""
    return render(request, "issues/_move_form.html", {"project": ctx.project, "issue": issue, "to_state": to,
                                                      "view": view})


@router.post("/projects/{project_id}/issues/{issue_id}/transition")
def transition(project_id: Id, issue_id: Id, request: Request, session: SessionDep, ctx: ProjectAnnotator,
               to_state: FormStr, reason: FormStr = "", view: FormStr = "board", from_form: FormStr = "",
               state: FormList = [], q: FormStr = "", has_evaluator: FormStr = "",
               sort: FormStr = "last_seen") -> Response:
    try:
        flows.transition(session, ctx.project.id, issue_id, to_state, actor=ctx.actor, reason=reason)
    except AppError as error:
        if not from_form:
            raise  # shown in the flash area
        # The reason form stays open with its message.
        return form_error(request, session, error, "issues/_move_form.html", lambda: {
            "project": ctx.project, "issue": service.get_issue(session, ctx.project.id, issue_id),
            "to_state": to_state, "view": view, "reason": reason})
    if view == "issue":
        return redirect(f"/projects/{project_id}/issues/{issue_id}", request)
    context = board_context(session, ctx, BoardQuery.build(state, q, has_evaluator, sort))
    return render(request, "issues/_board.html", context,
                  headers={"HX-Retarget": "#board", "HX-Reswap": "outerHTML", "HX-Trigger": "issue-moved"})


# ---------------------------------------------------------------------------
# Suggestions


@router.post("/projects/{project_id}/issues/suggestions/{suggestion_id}/accept")
def accept_suggestion(project_id: Id, suggestion_id: Id, request: Request, session: SessionDep,
                            ctx: ProjectAnnotator, title: Annotated[str, Form()] = "") -> Response:
    issue = loop.accept_suggestion(session, ctx.project.id, suggestion_id, actor=ctx.actor,
                                   title=title.strip() or None)
    return redirect(f"/projects/{project_id}/issues/{issue.id}", request)


@router.post("/projects/{project_id}/issues/suggestions/{suggestion_id}/dismiss")
def dismiss_suggestion(project_id: Id, suggestion_id: Id, request: Request, session: SessionDep,
                       ctx: ProjectAnnotator) -> Response:
    suggestions.dismiss_suggestion(session, ctx.project.id, suggestion_id, actor=ctx.actor)
    return Response("", media_type="text/html")  # the suggestion's row swaps itself out


@router.post("/projects/{project_id}/issues/suggestions/refresh")
def refresh_suggestions(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAnnotator) -> Response:
    suggestions.request_suggestions(session, ctx.project.id, force=True)
    return render(request, "issues/_refresh_requested.html", {})


# ---------------------------------------------------------------------------
# The issue page


def issue_context(session: Session, ctx: ProjectContext, issue) -> dict:
    project_id = ctx.project.id
    human = stats.human_occurrences(session, project_id, [issue.id])
    figure = stats.figures(session, project_id, [issue.id], utcnow(), human=human)[issue.id]
    # Labelling is blind: an annotator sees no one's verdict on a trace still waiting for theirs.
    reader = ctx.actor if ctx.role == Role.annotator else None
    traces = traces_repository.visible_trace_ids(session, list(human.get(issue.id, {})), reader)
    passing = _passing_examples(session, project_id, reader)
    events = repository.events_of(session, issue.id)
    return {"project": ctx.project, "issue": issue, "figure": figure, "nav": "issues", "events": events,
            "actor_names": repository.actor_names(session, [e.actor for e in events]),
            "failures": repository.failed_annotations(session, traces, EXAMPLES),
            "passing": passing, "merge_targets": [i for i in repository.open_issues(session, project_id)
                                                  if i.id != issue.id],
            "can_edit": ctx.role.at_least(Role.annotator), "is_admin": ctx.role.at_least(Role.admin)}


def _passing_examples(session: Session, project_id: int, reader: str | None) -> list[tuple[int, tuple]]:
    """Recent traces whose human label is pass: the negatives an evaluator of any issue learns from."""
    candidates = traces_repository.visible_trace_ids(
        session, repository.recent_passing_trace_ids(session, project_id, EXAMPLES * 5), reader)
    labels = annotations.labels_for_traces(session, candidates)
    passing = [t for t in candidates if labels[t].verdict == "pass"][:EXAMPLES]
    summaries = repository.trace_summaries(session, passing)
    return [(t, summaries[t]) for t in passing]


@router.get("/projects/{project_id}/issues/{issue_id}", response_class=HTMLResponse)
def issue_page(project_id: Id, request: Request, session: SessionDep, ctx: ProjectViewer, issue: IssueDep) -> Response:
    if issue.merged_into_id is not None:
        return RedirectResponse(f"/projects/{project_id}/issues/{issue.merged_into_id}", status_code=303)
    return render(request, "issues/issue.html", issue_context(session, ctx, issue))


@router.post("/projects/{project_id}/issues/{issue_id}/edit")
def edit_issue(project_id: Id, issue_id: Id, request: Request, session: SessionDep, ctx: ProjectAnnotator,
               title: FormStr, description: Annotated[str, Form()] = "") -> Response:
    issue = service.get_issue(session, ctx.project.id, issue_id, for_update=True)
    try:
        service.update_issue(session, issue, actor=ctx.actor, title=title, description=description)
    except AppError as error:
        return form_error(request, session, error, "issues/_edit_form.html", lambda: {
            "project": ctx.project, "issue": service.get_issue(session, ctx.project.id, issue_id),
            "title": title, "description": description})
    return redirect(f"/projects/{project_id}/issues/{issue_id}", request)


@router.post("/projects/{project_id}/issues/{issue_id}/merge")
def merge_issue(project_id: Id, issue_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin,
                target_id: Annotated[Id, Form()]) -> Response:
    target = flows.merge(session, ctx.project.id, issue_id, target_id, actor=ctx.actor)
    return redirect(f"/projects/{project_id}/issues/{target.id}", request)


# ---------------------------------------------------------------------------
# Webhooks


def webhooks_context(session: Session, ctx: ProjectContext, **extra) -> dict:
    return {"project": ctx.project, "nav": "issues", "kinds": service.ALERT_KINDS,
            "hooks": repository.webhooks_of(session, ctx.project.id),
            "deliveries": repository.deliveries_of(session, ctx.project.id),
            "headers": {"signature": webhooks.SIGNATURE_HEADER, "timestamp": webhooks.TIMESTAMP_HEADER,
                        "event": webhooks.EVENT_HEADER, "delivery": webhooks.DELIVERY_HEADER}, **extra}


@router.get("/projects/{project_id}/webhooks", response_class=HTMLResponse)
def webhooks_page(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin) -> Response:
    return render(request, "issues/webhooks.html", webhooks_context(session, ctx))


@router.post("/projects/{project_id}/webhooks")
def create_webhook(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin,
                   url: FormStr = "", secret: FormStr = "", events: FormList = []) -> Response:
    try:
        hook = service.create_webhook(session, ctx.project.id, url, events=events, secret=secret,
                                      created_by_id=ctx.user.id if ctx.user else None)
    except AppError as error:
        return form_error(request, session, error, "issues/_webhooks.html",
                          lambda: webhooks_context(session, ctx, url=url, chosen=events))
    return render(request, "issues/_webhooks.html", webhooks_context(session, ctx, created=hook))


@router.post("/projects/{project_id}/webhooks/{webhook_id}/delete")
def delete_webhook(project_id: Id, request: Request, session: SessionDep,
                   ctx: ProjectAdmin, webhook: WebhookDep) -> Response:
    session.delete(webhook)
    session.flush()
    return render(request, "issues/_webhooks.html", webhooks_context(session, ctx))


@router.post("/projects/{project_id}/webhooks/{webhook_id}/test")
def test_webhook(project_id: Id, request: Request, session: SessionDep,
                 ctx: ProjectAdmin, webhook: WebhookDep) -> Response:
    alerts.send_test(session, webhook)
    return render(request, "issues/_deliveries.html", webhooks_context(session, ctx))


@router.get("/projects/{project_id}/webhooks/deliveries", response_class=HTMLResponse)
def deliveries(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin) -> Response:
    return render(request, "issues/_deliveries.html", webhooks_context(session, ctx))


# ---------------------------------------------------------------------------
# Notifications


@router.get("/projects/{project_id}/notifications", response_class=HTMLResponse)
def notifications_page(project_id: Id, request: Request, session: SessionDep, ctx: ProjectViewer) -> Response:
    items, seen_before = ([], 0) if ctx.user is None else alerts.read_notifications(session, ctx.user.id, project_id)
    return render(request, "issues/notifications.html",
                  {"project": ctx.project, "items": items, "seen_before": seen_before, "nav": "issues"})


@router.get("/projects/{project_id}/notifications/badge", response_class=HTMLResponse)
def notifications_badge(project_id: Id, request: Request, session: SessionDep, ctx: ProjectViewer) -> Response:
    unread = alerts.unread_count(session, ctx.user.id, project_id) if ctx.user else 0
    return render(request, "issues/_bell.html", {"unread": unread})
