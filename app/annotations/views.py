"""HTML routes of the annotations domain: queues, the annotation workbench, agreement and adjudication.

The workbench is one fragment (`annotations/_workbench.html`): every action on it
(submit, skip, previous, next) answers with the whole fragment for the item to show
next and pushes that item's URL, so the page never reloads and a URL always
reopens what is on screen. Keyboard handling lives in `static/js/annotate.js`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, create_model
from sqlalchemy.orm import Session

from app import loop
from app.accounts import repository as accounts_repository
from app.accounts.access import ProjectAdmin, ProjectAnnotator, ProjectContext, ProjectViewer
from app.accounts.models import Role, User
from app.annotations import repository, service
from app.annotations.agreement import PASS
from app.annotations.deps import QueueDep
from app.annotations.models import AnnotationQueue, QueueItem
from app.annotations.service import Judgement, QueueSpec
from app.audit import service as audit
from app.core.deps import SessionDep
from app.core.errors import AppError, NotAuthenticated, Unprocessable, is_htmx
from app.core.settings import annotation_settings
from app.core.templating import form_error, is_partial, redirect, render
from app.core.types import Id
from app.issues import repository as issues_repository
from app.traces import repository as traces_repository
from app.traces import service as traces_service
from app.traces.filters import DATE_FIELDS, FILTER_FIELDS, LABELS, parse_utc
from app.traces.views import list_query

router = APIRouter(include_in_schema=False)

SHORTCUT_ISSUES = 9  # failure modes reachable with the keys 1–9
DISPUTES_SHOWN = 50


def queue_url(queue: AnnotationQueue) -> str:
    return f"/projects/{queue.project_id}/queues/{queue.id}"


def item_url(queue: AnnotationQueue, item: QueueItem) -> str:
    return f"{queue_url(queue)}/items/{item.id}"




def signed_in(ctx: ProjectContext) -> User:
    """Annotating is personal: an API key may read and import labels, not hold items."""
    if ctx.user is None:
        raise NotAuthenticated("This page needs a signed-in user, not an API key.")
    return ctx.user


def may_annotate(session: Session, ctx: ProjectContext, queue: AnnotationQueue) -> bool:
    return may_annotate_with(ctx, repository.member_ids(session, queue.id))


def may_annotate_with(ctx: ProjectContext, members: Sequence[int]) -> bool:
    if ctx.user is None or not ctx.role.at_least(Role.annotator):
        return False
    return not members or ctx.user.id in members


# ---------------------------------------------------------------------------
# Queue list


def annotator_names(session: Session, keys) -> dict[str, str]:
    """How to show annotator keys: a person's name (or e-mail), an import's source name."""
    parsed = {key: str(key).partition(":")[::2] for key in set(keys)}
    users = accounts_repository.users_by_id(
        session, [int(ident) for kind, ident in parsed.values() if kind == "user" and ident.isdigit()])
    names = {}
    for key, (kind, ident) in parsed.items():
        user = users.get(int(ident)) if kind == "user" and ident.isdigit() else None
        names[key] = user.display_name if user else (f"{ident} (imported)" if kind == "import" else str(key))
    return names


@dataclass
class QueueCard:
    queue: AnnotationQueue
    progress: service.QueueProgress
    names: dict[str, str]
    can_annotate: bool


def queue_cards(session: Session, ctx: ProjectContext, queues: Sequence[AnnotationQueue]) -> list[QueueCard]:
    """Every queue's card in a fixed number of queries, however many queues there are."""
    ids = [queue.id for queue in queues]
    progress = service.progress_of_queues(session, ids)
    members = repository.members_of_queues(session, ids)
    names = annotator_names(session, [key for p in progress.values() for key, _, _ in p.by_annotator])
    return [QueueCard(queue, progress[queue.id], names, may_annotate_with(ctx, members[queue.id]))
            for queue in queues]


@router.get("/projects/{project_id}/queues", response_class=HTMLResponse)
def queue_list(project_id: Id, request: Request, ctx: ProjectViewer, session: SessionDep) -> HTMLResponse:
    cards = queue_cards(session, ctx, repository.queues_of(session, ctx.project.id))
    return render(request, "annotations/list.html", {
        "nav": "queues", "project": ctx.project, "cards": cards, "is_admin": ctx.role.at_least(Role.admin)})


# ---------------------------------------------------------------------------
# Creating and editing a queue


# The filter part of the queue form: one text field per trace-filter field, `filter_<name>`.
_QueueFilterFields = create_model("_QueueFilterFields", **{f"filter_{name}": (str, "") for name in FILTER_FIELDS})


class QueueForm(_QueueFilterFields):
    """The queue form as typed: kept as text so a refused form comes back exactly as it was."""

    name: str = ""
    instructions: str = ""
    annotators_per_item: str = "1"
    member_ids: list[str] = []
    sampling_percent: str = "100"
    cap: str = ""
    live: str = ""

    def filter_value(self, name: str) -> str:
        return getattr(self, f"filter_{name}")

    @classmethod
    def of_queue(cls, queue: AnnotationQueue, member_ids: Sequence[int]) -> "QueueForm":
        stored = queue.filter or {}
        filters = {f"filter_{name}": _form_date(stored.get(name)) if name in DATE_FIELDS
                   else str(stored.get(name) or "") for name in FILTER_FIELDS}
        return cls(name=queue.name, instructions=queue.instructions,
                   annotators_per_item=str(queue.annotators_per_item), member_ids=[str(m) for m in member_ids],
                   sampling_percent=f"{queue.sampling_rate * 100:g}", cap=str(queue.cap or ""),
                   live="on" if queue.live else "", **filters)


QueueFormData = Annotated[QueueForm, Form()]


def _form_date(stored: str | None) -> str:
    """A stored ISO time as a datetime-local value (UTC, to the minute)."""
    return parse_utc(stored).strftime("%Y-%m-%dT%H:%M") if stored else ""


def _whole_number(value: str, label: str, field_name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise Unprocessable(f"{label} must be a whole number.", details={"field": field_name}) from None


def _sampling_rate(value: str) -> float:
    try:
        percent = float(value.strip().rstrip("%") or "100")
    except ValueError:
        raise Unprocessable("The sampling rate must be a percentage, e.g. 10.",
                            details={"field": "sampling_rate"}) from None
    return percent / 100


def _filter_of(form: QueueForm) -> dict:
    try:
        return service.stored_filter({name: form.filter_value(name) for name in FILTER_FIELDS})
    except Unprocessable as error:
        field = (error.details or {}).get("field")
        raise Unprocessable(error.message, details={"field": f"filter_{field}" if field else "filter"}) from None


def spec_of(form: QueueForm) -> QueueSpec:
    cap = form.cap.strip()
    return QueueSpec(
        name=form.name, instructions=form.instructions.strip(),
        annotators_per_item=_whole_number(form.annotators_per_item, "Annotators per item", "annotators_per_item"),
        filter=_filter_of(form), sampling_rate=_sampling_rate(form.sampling_percent),
        cap=_whole_number(cap, "The cap", "cap") if cap else None, live=bool(form.live),
        member_ids=[_whole_number(m, "A member id", "member_ids") for m in form.member_ids])


def possible_annotators(session: Session, organization_id: int) -> list:
    """Members who may be chosen as a queue's annotators: role annotator or admin."""
    return [m for m in accounts_repository.members_of(session, organization_id)
            if Role(m.role).at_least(Role.annotator)]


def wants_fill(queue: AnnotationQueue) -> bool:
    """A new queue fills from its filter now, unless it is live (the worker samples new traces)
    or nothing was said about what to fill (it will be filled from the explorer)."""
    return not queue.live and bool(queue.filter or queue.cap or queue.sampling_rate < 1)


def queue_form_context(session: Session, ctx: ProjectContext, form: QueueForm,
                       queue: AnnotationQueue | None) -> dict:
    return {"nav": "queues", "project": ctx.project, "queue": queue, "form": form,
            "members": possible_annotators(session, ctx.project.organization_id),
            "filter_labels": {name: LABELS[name] for name in FILTER_FIELDS},
            "filter_choices": traces_service.filter_choices(session, ctx.project.id)}


def refused_queue_form(request: Request, session: Session, ctx: ProjectContext, form: QueueForm,
                       queue: AnnotationQueue | None, error: AppError) -> HTMLResponse:
    return form_error(request, session, error, "annotations/_queue_form.html",
                      lambda: queue_form_context(session, ctx, form, queue))


@router.get("/projects/{project_id}/queues/new", response_class=HTMLResponse)
def new_queue_page(project_id: Id, request: Request, ctx: ProjectAdmin, session: SessionDep) -> HTMLResponse:
    return render(request, "annotations/queue_form.html", queue_form_context(session, ctx, QueueForm(), None))


@router.post("/projects/{project_id}/queues")
def create_queue(project_id: Id, request: Request, ctx: ProjectAdmin, session: SessionDep,
                 form: QueueFormData) -> Response:
    try:
        queue = service.create_queue(session, ctx.project, spec_of(form), actor=signed_in(ctx))
        added = service.fill_from_filter(session, queue) if wants_fill(queue) else None
    except AppError as error:
        return refused_queue_form(request, session, ctx, form, None, error)
    return redirect(queue_url(queue) + (f"?added={added}" if added is not None else ""), request)


@router.get("/projects/{project_id}/queues/{queue_id}/edit", response_class=HTMLResponse)
def edit_queue_page(project_id: Id, request: Request, ctx: ProjectAdmin, queue: QueueDep,
                    session: SessionDep) -> HTMLResponse:
    form = QueueForm.of_queue(queue, repository.member_ids(session, queue.id))
    return render(request, "annotations/queue_form.html", queue_form_context(session, ctx, form, queue))


@router.post("/projects/{project_id}/queues/{queue_id}/edit")
def update_queue(project_id: Id, request: Request, ctx: ProjectAdmin, queue: QueueDep, session: SessionDep,
                 form: QueueFormData) -> Response:
    try:
        service.check_queue_name_free(session, ctx.project.id, form.name, queue.id)
        service.update_queue(session, ctx.project, queue, spec_of(form))
    except AppError as error:
        return refused_queue_form(request, session, ctx, form, queue, error)
    return redirect(queue_url(queue), request)


@router.post("/projects/{project_id}/queues/{queue_id}/fill", response_class=HTMLResponse)
def fill_queue(project_id: Id, request: Request, ctx: ProjectAdmin, queue: QueueDep,
               session: SessionDep) -> HTMLResponse:
    added = service.fill_from_filter(session, queue)
    _, total = repository.progress(session, queue.id)
    return render(request, "annotations/_fill_result.html", {"added": added, "total": total})


# ---------------------------------------------------------------------------
# Adding traces from the explorer


@dataclass
class AddRequest:
    """What the explorer sends: chosen trace ids, or "all matching" its filter (read from the
    query string by the explorer's own `list_query`)."""

    trace_ids: list[str]
    matching: bool
    limit: str


async def read_add_request(request: Request) -> AddRequest:
    form = await request.form()
    fields = {**request.query_params, **{k: v for k, v in form.items() if isinstance(v, str)}}
    return AddRequest(trace_ids=[t for t in form.getlist("trace_ids") if isinstance(t, str)],
                      matching=fields.get("matching", "").strip() in ("1", "true", "on"),
                      limit=fields.get("limit", "").strip())


@router.post("/projects/{project_id}/queues/{queue_id}/add", response_class=HTMLResponse)
def add_to_queue(project_id: Id, request: Request, ctx: ProjectAnnotator, queue: QueueDep, session: SessionDep,
                 sent: Annotated[AddRequest, Depends(read_add_request)]) -> Response:
    """Add from the explorer: form fields `trace_ids` (repeated), or `matching=1` with the explorer's
    filter in the query string (its own URL parameters: q, name, model, tag, release, environment,
    session_id, user_id, status, annotated, range, from, to) and an optional `limit` (at most 10,000).
    HTMX gets a flash-style fragment ("Added N traces to <queue>"); a plain form post is sent to
    the queue page. Traces already in the queue are not added twice."""
    if sent.matching:
        limit = _whole_number(sent.limit, "The limit", "limit") if sent.limit else service.MATCHING_LIMIT
        filters = list_query(request).filters
        added = service.add_matching(session, queue, filters, max(1, min(limit, service.MATCHING_LIMIT)))
    else:
        ids = [_whole_number(t, "A trace id", "trace_ids") for t in sent.trace_ids]
        if not ids:
            raise Unprocessable("Select traces, or choose “all matching”.")
        added = service.add_traces(session, queue, ids)
    if not is_htmx(request):
        return RedirectResponse(f"{queue_url(queue)}?added={added}", status_code=303)
    return render(request, "annotations/_added.html", {"queue": queue, "added": added})


# ---------------------------------------------------------------------------
# The queue page: progress, agreement, disagreements


@dataclass
class Dispute:
    """A trace the annotators disagree on, with everything an adjudicator weighs."""

    trace_id: int
    label: object
    annotations: list = field(default_factory=list)  # (annotation, issue ids)
    adjudication: object = None
    trace: object = None  # its input and output, to settle most disputes without clicking through
    votes_missing: int = 0  # votes the item still waits for (0 once done)


def disputes_for(session: Session, queue: AnnotationQueue, labels: dict) -> list[Dispute]:
    """Disputes of these traces (trace id → label), their annotations, traces and items loaded in one go."""
    trace_ids = list(labels)
    annotations: dict[int, list] = {trace_id: [] for trace_id in trace_ids}
    for annotation, issue_ids in repository.annotations_for_traces(session, trace_ids):
        annotations[annotation.trace_id].append((annotation, issue_ids))
    adjudications = repository.adjudications_for_traces(session, trace_ids)
    traces = {trace.id: trace for trace in traces_repository.traces_by_id(session, trace_ids)}
    items = repository.items_for_traces(session, queue.id, trace_ids)
    return [Dispute(trace_id, label, annotations[trace_id], adjudications.get(trace_id), traces.get(trace_id),
                    votes_missing(queue, items.get(trace_id)))
            for trace_id, label in labels.items()]


def votes_missing(queue: AnnotationQueue, item: QueueItem | None) -> int:
    return 0 if item is None or item.done else max(0, queue.annotators_per_item - item.annotation_count)


def disputes_of(session: Session, queue: AnnotationQueue) -> list[Dispute]:
    return disputes_for(session, queue, service.disagreements(session, queue, limit=DISPUTES_SHOWN))


def settled_disputes_of(session: Session, queue: AnnotationQueue) -> list[Dispute]:
    trace_ids = repository.settled_trace_ids(session, queue.id, limit=DISPUTES_SHOWN)
    return disputes_for(session, queue, service.labels_for_traces(session, trace_ids))


def queue_page_names(session: Session, progress: service.QueueProgress, disputes) -> dict[str, str]:
    keys = [key for key, _, _ in progress.by_annotator]
    keys += [annotation.annotator for dispute in disputes for annotation, _ in dispute.annotations]
    return annotator_names(session, keys)


def issue_choices(session: Session, project_id: int) -> list:
    """Failure modes to pick from, oldest first so that the keys 1–9 keep meaning the same issue."""
    return sorted(issues_repository.open_issues(session, project_id), key=lambda issue: issue.id)


@router.get("/projects/{project_id}/queues/{queue_id}", response_class=HTMLResponse)
def queue_page(project_id: Id, request: Request, ctx: ProjectViewer, queue: QueueDep, session: SessionDep,
               added: int | None = None) -> HTMLResponse:
    progress = service.progress(session, queue)
    # Labelling is blind: other people's verdicts (disputes, agreement) are for admins only,
    # or an annotator would read colleagues' judgements of items they have yet to judge.
    is_admin = ctx.role.at_least(Role.admin)
    disputes = disputes_of(session, queue) if is_admin else []
    issues = issue_choices(session, ctx.project.id)
    return render(request, "annotations/queue.html", {
        "nav": "queues", "project": ctx.project, "queue": queue, "progress": progress, "added": added,
        "names": queue_page_names(session, progress, disputes), "disputes": disputes,
        "disputes_limit": DISPUTES_SHOWN, "issues": issues,
        "issue_titles": {issue.id: issue.title for issue in issues},
        "is_admin": is_admin, "can_annotate": may_annotate(session, ctx, queue)})


@router.get("/projects/{project_id}/queues/{queue_id}/agreement", response_class=HTMLResponse)
def queue_agreement(project_id: Id, request: Request, ctx: ProjectAdmin, queue: QueueDep,
                    session: SessionDep) -> HTMLResponse:
    """The agreement figures, asked for by the queue page once it is shown: they read every
    annotation of the queue, which takes seconds on a queue of 100,000 items."""
    agreement = service.queue_agreement(session, queue)
    keys = [key for pair in agreement.pairs for key in (pair.annotator_a, pair.annotator_b)]
    return render(request, "annotations/_agreement.html",
                  {"agreement": agreement, "names": annotator_names(session, keys)})


class AdjudicationForm(BaseModel):
    verdict: str = ""
    issue_ids: list[str] = []
    note: str = ""
    early: bool = False  # settle before every vote is in


@router.post("/projects/{project_id}/queues/{queue_id}/traces/{trace_id}/adjudicate",
             response_class=HTMLResponse)
def adjudicate(project_id: Id, trace_id: Id, request: Request, ctx: ProjectAdmin, queue: QueueDep,
               session: SessionDep, form: Annotated[AdjudicationForm, Form()]) -> HTMLResponse:
    item = service.queue_item_for_trace(session, queue, trace_id)
    try:
        service.check_can_settle(queue, item, form.early)
        issue_ids = [_whole_number(i, "A failure mode id", "issue_ids") for i in form.issue_ids]
        loop.adjudicate(session, ctx.project.id, trace_id, form.verdict, issue_ids, form.note, signed_in(ctx))
    except AppError as error:
        return form_error(request, session, error, "annotations/_dispute.html",
                          lambda: dispute_context(session, ctx, queue, trace_id))
    return render(request, "annotations/_dispute.html", {**dispute_context(session, ctx, queue, trace_id),
                                                         "saved": True})


@router.get("/projects/{project_id}/queues/{queue_id}/settled", response_class=HTMLResponse)
def settled_page(project_id: Id, request: Request, ctx: ProjectAdmin, queue: QueueDep,
                 session: SessionDep) -> HTMLResponse:
    """Disputes settled by adjudication: who decided, why, and what it replaced; each revisable."""
    disputes = settled_disputes_of(session, queue)
    issues = issue_choices(session, ctx.project.id)
    history = audit.history_of(session, ctx.project.id, [f"trace:{d.trace_id}" for d in disputes],
                               action_prefix="adjudication.")
    keys = [annotation.annotator for dispute in disputes for annotation, _ in dispute.annotations]
    return render(request, "annotations/settled.html", {
        "nav": "queues", "project": ctx.project, "queue": queue, "disputes": disputes,
        "disputes_limit": DISPUTES_SHOWN, "issues": issues, "issue_titles": {i.id: i.title for i in issues},
        "names": annotator_names(session, keys), "history": history,
        "adjudicators": {user_id: user.display_name for user_id, user in accounts_repository.users_by_id(
            session, [d.adjudication.adjudicator_id for d in disputes if d.adjudication]).items()},
        "is_admin": True})


def dispute_context(session: Session, ctx: ProjectContext, queue: AnnotationQueue, trace_id: int) -> dict:
    [dispute] = disputes_for(session, queue, service.labels_for_traces(session, [trace_id]))
    issues = issue_choices(session, ctx.project.id)
    return {"project": ctx.project, "queue": queue, "dispute": dispute,
            "names": annotator_names(session, [annotation.annotator for annotation, _ in dispute.annotations]),
            "issues": issues, "issue_titles": {issue.id: issue.title for issue in issues}, "is_admin": True}


# ---------------------------------------------------------------------------
# The workbench


@dataclass
class Draft:
    """What the form shows: my earlier judgement, or what I just sent when it was refused."""

    verdict: str = ""
    feedback: str = ""
    issue_ids: set[int] = field(default_factory=set)
    new_issue: str = ""
    corrected_output: str = ""


class JudgementForm(BaseModel):
    verdict: str = ""
    feedback: str = ""
    issue_ids: list[str] = []
    new_issue: str = ""
    corrected_output: str = ""
    seconds: str = ""  # time on the item, measured by the workbench's script

    def draft(self) -> Draft:
        ids = {int(i) for i in self.issue_ids if i.strip().isdigit()}
        return Draft(self.verdict, self.feedback, ids, self.new_issue, self.corrected_output)


def judgement_of(form: JudgementForm) -> Judgement:
    issue_ids = [_whole_number(i, "A failure mode id", "issue_ids") for i in form.issue_ids]
    new_issue = " ".join(form.new_issue.split())
    if form.verdict == PASS and (issue_ids or new_issue):
        # A pass keeps no failure modes: say so rather than drop the ticks silently.
        raise Unprocessable("Failure modes describe a failure: choose fail, or untick them.",
                            details={"field": "issue_ids"})
    return Judgement(verdict=form.verdict, feedback=form.feedback, issue_ids=issue_ids,
                     new_issue_titles=[new_issue] if new_issue else [],
                     corrected_output=form.corrected_output.strip() or None,
                     seconds_spent=seconds_spent(form.seconds))


MAX_SECONDS_PER_ITEM = 1800  # a tab left open over lunch is not half an hour of work


def seconds_spent(value: str) -> int | None:
    """The workbench's own measurement, capped; missing or malformed (no script) is unknown."""
    try:
        return max(0, min(MAX_SECONDS_PER_ITEM, round(float(value))))
    except ValueError:
        return None


def draft_of(annotation, issue_ids: Sequence[int]) -> Draft:
    if annotation is None:
        return Draft()
    return Draft(annotation.verdict, annotation.feedback, set(issue_ids), "", annotation.corrected_output or "")


def renew_every_seconds() -> int:
    """Renew well before the lock lapses (every minute for the default five-minute lock)."""
    return max(1, min(60, annotation_settings().queue_lock_seconds // 3))


@dataclass
class MyProgress:
    done: int
    total: int
    mine: int
    skipped: int = 0
    pace_seconds: float | None = None  # my median time per item here


def my_progress(session: Session, queue: AnnotationQueue, user: User) -> MyProgress:
    done, total = repository.progress(session, queue.id)
    skipped, pace = repository.my_pace(session, queue.id, user.id)
    return MyProgress(done, total, repository.annotations_in_queue(session, queue.id, user.id), skipped, pace)


def workbench_context(session: Session, ctx: ProjectContext, queue: AnnotationQueue, item: QueueItem | None,
                      user: User, *, claimed: bool = False, draft: Draft | None = None,
                      error: AppError | None = None) -> dict:
    """What the workbench shows. Counting a large queue's progress takes longer than the item
    itself, so the header asks for it in a request of its own; with nothing left it is the page.
    A `claimed` item (from `next_item`) is one I have not annotated and nobody else holds past
    its share, so the queries that would say otherwise are left out of the hot path."""
    context = {
        "nav": "queues", "project": ctx.project, "queue": queue, "item": item,
        "issues": issue_choices(session, ctx.project.id), "shortcut_issues": SHORTCUT_ISSUES,
        "renew_seconds": renew_every_seconds(), "error": error.message if error else None,
        "error_field": error.field if error else None}
    if item is None:
        context["progress"] = my_progress(session, queue, user)
        return context
    annotation, issue_ids = (None, []) if claimed else service.my_annotation(session, item, user)
    trace = traces_repository.get_trace(session, ctx.project.id, item.trace_id)
    context.update(trace=trace, messages=service.shown_conversation(session, trace), annotation=annotation,
                   draft=draft or draft_of(annotation, issue_ids),
                   held_by_others=0 if claimed else repository.locks_held_by_others(session, item.id, user.id))
    return context


def workbench(request: Request, session: Session, ctx: ProjectContext, queue: AnnotationQueue,
              item: QueueItem | None, user: User, *, claimed: bool = False, draft: Draft | None = None,
              error: AppError | None = None) -> HTMLResponse:
    """The workbench for `item` (or "nothing left"): a fragment for HTMX, else the whole page."""
    context = workbench_context(session, ctx, queue, item, user, claimed=claimed, draft=draft, error=error)
    status = error.status_code if error else 200
    if not is_partial(request):
        return render(request, "annotations/annotate.html", {**context, "full_page": True}, status_code=status)
    headers = {} if error else {"HX-Push-Url": item_url(queue, item) if item else f"{queue_url(queue)}/annotate"}
    return render(request, "annotations/_workbench.html", context, status_code=status, headers=headers)


@router.get("/projects/{project_id}/queues/{queue_id}/progress", response_class=HTMLResponse)
def workbench_progress(project_id: Id, request: Request, ctx: ProjectAnnotator, queue: QueueDep,
                       session: SessionDep) -> HTMLResponse:
    """The workbench header's progress: done / total, and how many are mine."""
    return render(request, "annotations/_progress.html",
                  {"queue": queue, "progress": my_progress(session, queue, signed_in(ctx))})


@router.get("/projects/{project_id}/queues/{queue_id}/annotate", response_class=HTMLResponse)
def annotate_next(project_id: Id, request: Request, ctx: ProjectAnnotator, queue: QueueDep,
                  session: SessionDep) -> Response:
    user = signed_in(ctx)
    item = service.next_item(session, queue, user)
    if item is not None and not is_partial(request):
        return RedirectResponse(item_url(queue, item), status_code=303)  # the URL names the item
    return workbench(request, session, ctx, queue, item, user, claimed=True)


@router.get("/projects/{project_id}/queues/{queue_id}/items/{item_id}", response_class=HTMLResponse)
def annotate_item(project_id: Id, item_id: Id, request: Request, ctx: ProjectAnnotator, queue: QueueDep,
                  session: SessionDep) -> HTMLResponse:
    user = signed_in(ctx)
    item = service.open_item(session, queue, item_id, user)
    return workbench(request, session, ctx, queue, item, user)


@router.post("/projects/{project_id}/queues/{queue_id}/items/{item_id}", response_class=HTMLResponse)
def submit_annotation(project_id: Id, item_id: Id, request: Request, ctx: ProjectAnnotator, queue: QueueDep,
                      session: SessionDep, form: Annotated[JudgementForm, Form()]) -> HTMLResponse:
    user = signed_in(ctx)
    item = service.open_item(session, queue, item_id, user)
    try:
        loop.record_annotation(session, ctx.project.id, item.trace_id, judgement_of(form),
                                annotator=service.annotator_key(user), author=user, queue=queue)
    except AppError as error:
        session.rollback()
        return workbench(request, session, ctx, queue, item, user, draft=form.draft(), error=error)
    return workbench(request, session, ctx, queue, service.next_item(session, queue, user), user, claimed=True)


@router.post("/projects/{project_id}/queues/{queue_id}/items/{item_id}/skip", response_class=HTMLResponse)
def skip_item(project_id: Id, item_id: Id, request: Request, ctx: ProjectAnnotator, queue: QueueDep,
              session: SessionDep) -> HTMLResponse:
    user = signed_in(ctx)
    service.skip(session, queue, item_id, user)
    return workbench(request, session, ctx, queue, service.next_item(session, queue, user), user, claimed=True)


@router.get("/projects/{project_id}/queues/{queue_id}/skipped", response_class=HTMLResponse)
def skipped_list(project_id: Id, queue_id: Id, request: Request, ctx: ProjectAnnotator,
                 session: SessionDep) -> HTMLResponse:
    """The items I skipped that are still open, each one a click away from the workbench."""
    queue = service.get_queue(session, ctx.project.id, queue_id)
    items = service.skipped_items(session, queue, signed_in(ctx))
    return render(request, "annotations/skipped.html",
                  {"nav": "queues", "project": ctx.project, "queue": queue, "items": items})


@router.post("/projects/{project_id}/queues/{queue_id}/items/{item_id}/unskip")
def unskip_item(project_id: Id, queue_id: Id, item_id: Id, request: Request, ctx: ProjectAnnotator,
                session: SessionDep) -> Response:
    queue = service.get_queue(session, ctx.project.id, queue_id)
    item = service.unskip(session, queue, item_id, signed_in(ctx))
    return redirect(item_url(queue, item), request)


@router.post("/projects/{project_id}/queues/{queue_id}/items/{item_id}/lock")
def renew_lock(project_id: Id, item_id: Id, ctx: ProjectAnnotator, queue: QueueDep,
               session: SessionDep) -> Response:
    service.renew_lock(session, queue, item_id, signed_in(ctx))
    return Response(status_code=204)


@router.get("/projects/{project_id}/queues/{queue_id}/previous", response_class=HTMLResponse)
def previous_item(project_id: Id, request: Request, ctx: ProjectAnnotator, queue: QueueDep, session: SessionDep,
                  before: Id | None = None) -> Response:
    """My annotation before the one on screen (or my latest), opened for editing."""
    user = signed_in(ctx)
    service.check_can_annotate(session, queue, user)
    item_id = service.previous_item(session, queue, user, before)
    if item_id is None:
        return render(request, "annotations/_notice.html",
                      {"message": "Nothing earlier: you have no earlier annotation in this queue."},
                      headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
    item = service.open_item(session, queue, item_id, user)
    if not is_partial(request):
        return RedirectResponse(item_url(queue, item), status_code=303)
    return workbench(request, session, ctx, queue, item, user)

