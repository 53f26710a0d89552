"""HTML routes of the traces domain: the explorer.

The trace list (filters in the URL, sortable columns, keyset "load more"), a
trace's detail (span tree on a time line, the selected span in a side panel) and
a session's traces in order. Trace content is hostile input: templates keep it
escaped and show JSON through `pretty_json` inside <pre>.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.accounts.access import ProjectViewer
from app.accounts.models import Role
from app.annotations import repository as annotations_repository
from app.annotations import service as annotations_service
from app.core.db import utcnow
from app.core.deps import SessionDep
from app.core.errors import NotFound, Unprocessable
from app.core.templating import is_partial, render
from app.core.types import Id
from app.traces import repository, service
from app.traces.models import Span
from app.traces.filters import LABELS, TEXT_FIELDS, TraceFilter

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
SESSION_PAGE_SIZE = 100
SESSION_PREVIEW_CHARS = 4000
TIME_RANGES = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(days=1)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
# The explorer's URL is the trace filter's fields, with `from`/`to` for the time window (the
# model reads both spellings) and `range` for a preset that moves with the clock.
URL_NAMES = {"start_from": "from", "start_to": "to"}
LIST_PARAMS = ("range", *(URL_NAMES.get(name, name) for name in TraceFilter.model_fields))
ORDERING_PARAMS = ("sort", "order")

# ---------------------------------------------------------------------------
# The trace list


@dataclass(frozen=True)
class ListQuery:
    """The list's filters as the URL carries them (to share and to build links) and as SQL reads them."""

    params: dict[str, str]
    filters: TraceFilter

    def url(self, path: str, **changes: str | None) -> str:
        query = urlencode({k: v for k, v in {**self.params, **changes}.items() if v})
        return f"{path}?{query}" if query else path

    @property
    def filtered(self) -> bool:
        return any(name not in ORDERING_PARAMS for name in self.params)


def list_query(request: Request) -> ListQuery:
    """The explorer's URL parameters as filters: the one reading of them, for the list and for
    whatever acts on "all matching" (adding to an annotation queue)."""
    params = {name: value.strip() for name, value in request.query_params.items()
              if name in LIST_PARAMS and value.strip()}
    values = dict(params)
    preset = values.pop("range", None)
    if preset in TIME_RANGES:
        # A preset ("last 24 hours") moves with the clock, so a shared link stays useful.
        values.update({"from": utcnow() - TIME_RANGES[preset][1], "to": None})
    elif preset not in (None, "custom"):
        raise Unprocessable(f"Unknown time range {preset!r}.", details={"field": "range"})
    return ListQuery(params=params, filters=service.parse_filter(values))


def trace_page(session, project_id: int, filters: TraceFilter, cursor: str | None, *, limit: int = PAGE_SIZE,
               preview_chars: int = repository.PREVIEW_CHARS) -> tuple[list, str | None]:
    """One page of trace summaries and the cursor of the next (None on the last page): what
    `service.list_traces` does, with rows of what a list shows instead of whole traces."""
    after = service.decode_cursor(cursor) if cursor else None
    rows = repository.trace_summaries(session, project_id, filters, limit=limit + 1, after=after,
                                      preview_chars=preview_chars)
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    return page, service.encode_cursor(repository.sort_value(last, filters.sort), last.id)



@router.get("/projects/{project_id}/traces", response_class=HTMLResponse)
def trace_list(project_id: Id, request: Request, ctx: ProjectViewer, session: SessionDep,
               cursor: str | None = None) -> HTMLResponse:
    query = list_query(request)
    filters = service.as_read_by(query.filters, ctx.role, ctx.actor)
    traces, next_cursor = trace_page(session, ctx.project.id, filters, cursor)
    # Who may add traces to a queue sees the control, and rows get checkboxes once there is a
    # queue to add to; the add route checks the role again.
    can_add_to_queue = ctx.role.at_least(Role.annotator)
    context = {"nav": "traces", "project": ctx.project, "query": query, "traces": traces,
               "next_cursor": next_cursor, "list_path": f"/projects/{ctx.project.id}/traces",
               "can_add_to_queue": can_add_to_queue,
               "queues": annotations_repository.queues_of(session, ctx.project.id) if can_add_to_queue else []}
    if cursor and is_partial(request):
        return render(request, "traces/_rows.html", context)
    context.update(
        partial=is_partial(request), time_ranges=TIME_RANGES, filter_labels=LABELS, text_fields=TEXT_FIELDS,
        filter_choices=service.filter_choices(session, ctx.project.id),
        matching_limit=annotations_service.MATCHING_LIMIT,
        search_backlog=repository.search_backlog(session, ctx.project.id) if query.filters.q else 0,
        base_url=str(request.base_url).rstrip("/"))
    return render(request, "traces/_results.html" if context["partial"] else "traces/list.html", context)


# ---------------------------------------------------------------------------
# One trace


@dataclass(frozen=True)
class SpanRow:
    """A span in the tree: its depth, and where its bar sits on the trace's time line (in %)."""

    span: Span
    depth: int
    offset: float
    width: float


MIN_BAR_PERCENT = 0.4  # an instant span still shows as a sliver


def span_tree(spans: Sequence[Span]) -> list[SpanRow]:
    """Spans depth first (children in start order), each placed on the trace's time line."""
    if not spans:
        return []
    start = min(s.start_time for s in spans)
    end = max(s.end_time or s.start_time for s in spans)
    total_ms = max((end - start).total_seconds() * 1000, 1.0)
    rows = []
    for span, depth in _depth_first(spans):
        offset = min((span.start_time - start).total_seconds() * 1000 / total_ms * 100, 100 - MIN_BAR_PERCENT)
        width = min(max((span.duration_ms or 0) / total_ms * 100, MIN_BAR_PERCENT), 100 - offset)
        rows.append(SpanRow(span=span, depth=depth, offset=round(offset, 3), width=round(width, 3)))
    return rows


def _depth_first(spans: Sequence[Span]) -> list[tuple[Span, int]]:
    """(span, depth) in tree order. A span whose parent has not arrived is a root; parent
    links that loop (hostile input) are cut where the walk comes back to a seen span."""
    ids = {s.external_id for s in spans}
    children: dict[str, list[Span]] = defaultdict(list)
    roots = []
    for span in spans:
        parent = span.parent_external_id
        if parent in ids and parent != span.external_id:
            children[parent].append(span)
        else:
            roots.append(span)
    ordered, seen = [], set()
    # Spans reachable only through a loop of parents get a walk of their own, after the roots.
    for first in (*roots, *spans):
        stack = [(first, 0)]
        while stack:
            span, depth = stack.pop()
            if span.external_id in seen:
                continue
            seen.add(span.external_id)
            ordered.append((span, depth))
            stack.extend((child, depth + 1) for child in reversed(children[span.external_id]))
    return ordered


def chat_messages(value) -> list[dict]:
    """Stored messages, keeping only message-shaped items: the JSON came from a client."""
    return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []


def span_context(span: Span | None) -> dict:
    """What the span panel shows: the span, and its input and output as chat messages."""
    if span is None:
        return {"span": None, "input_messages": [], "output_messages": []}
    inputs = chat_messages(span.input_messages)
    if span.system and not any(m.get("role") == "system" for m in inputs):
        inputs.insert(0, {"role": "system", "content": span.system})
    return {"span": span, "input_messages": inputs, "output_messages": chat_messages(span.output_messages)}


def _selected(rows: list[SpanRow], span_id: int | None) -> Span | None:
    if span_id is None:
        return rows[0].span if rows else None
    for row in rows:
        if row.span.id == span_id:
            return row.span
    raise NotFound("No such span in this trace.")


@router.get("/projects/{project_id}/traces/{trace_id}", response_class=HTMLResponse)
def trace_detail(project_id: Id, trace_id: Id, request: Request, ctx: ProjectViewer, session: SessionDep,
                 span: Id | None = None) -> HTMLResponse:
    trace = service.get_trace(session, ctx.project.id, trace_id)
    rows = span_tree(repository.spans_of(session, trace.id))
    context = {"nav": "traces", "project": ctx.project, "trace": trace, "rows": rows,
               **span_context(_selected(rows, span))}
    return render(request, "traces/detail.html", context)


@router.get("/projects/{project_id}/traces/{trace_id}/spans/{span_id}", response_class=HTMLResponse)
def span_panel(project_id: Id, trace_id: Id, span_id: Id, request: Request, ctx: ProjectViewer,
               session: SessionDep) -> Response:
    trace = service.get_trace(session, ctx.project.id, trace_id)
    if not is_partial(request):
        # Opened in a tab of its own: show the whole trace with this span selected.
        return RedirectResponse(f"/projects/{ctx.project.id}/traces/{trace.id}?span={span_id}", status_code=303)
    span = repository.get_span(session, trace.id, span_id)
    if span is None:
        raise NotFound("No such span in this trace.")
    return render(request, "traces/_span_panel.html", {"project": ctx.project, "trace": trace,
                                                       **span_context(span)})


# ---------------------------------------------------------------------------
# One session


@router.get("/projects/{project_id}/sessions/{session_id:path}", response_class=HTMLResponse)
def session_view(project_id: Id, session_id: str, request: Request, ctx: ProjectViewer, session: SessionDep,
                 cursor: str | None = None) -> HTMLResponse:
    filters = service.parse_filter({"session_id": session_id, "order": "asc"})
    traces, next_cursor = trace_page(session, ctx.project.id, filters, cursor, limit=SESSION_PAGE_SIZE,
                                     preview_chars=SESSION_PREVIEW_CHARS)
    if not traces and not cursor:
        raise NotFound("No traces in this session.")
    context = {"nav": "traces", "project": ctx.project, "session_id": session_id, "traces": traces,
               "next_cursor": next_cursor, "preview_chars": SESSION_PREVIEW_CHARS}
    partial = cursor and is_partial(request)
    return render(request, "traces/_session_turns.html" if partial else "traces/session.html", context)
