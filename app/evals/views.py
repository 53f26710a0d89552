"""HTML routes of the evals domain: the evaluator list, an evaluator's page, hand-written
evaluators, backfills, and the verdicts shown on a trace.

Figures shown are the honest ones the backend stores: MCC measured on labels the version
was not fitted on (cross-validated, or held out; every label for a hand-written evaluator)
with its 95% interval and n, "undefined" with the reason when MCC has no value, "no better
than chance" (retire or refine) when the interval reaches 0, and "not fit for gating"
whenever the interval's lower bound is below the bar. Explanations and specs derive from trace text, which is hostile input:
templates keep everything escaped. Each page reads a fixed number of queries, however
many evaluators or issues the project has.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.accounts.access import ProjectAdmin, ProjectContext, ProjectViewer
from app.accounts.models import Role
from app.core.db import utcnow
from app.core.deps import SessionDep
from app.core.errors import AppError, Unprocessable, is_htmx
from app.core.settings import eval_settings
from app.core.templating import form_error, redirect, render, templates
from app.core.types import Id
from app.evals import flows, generation, llm_budget, repository, service
from app.evals.deps import EvaluatorDep
from app.evals.models import GENERATING, EvalRun, Evaluator, EvaluatorVersion, RunStatus
from app.issues import repository as issues_repository
from app.issues.models import Issue
from app.traces import service as traces_service
from app.traces.filters import ANNOTATION_CHOICES, LABELS, STATUS_CHOICES

router = APIRouter(include_in_schema=False)

FormStr = Annotated[str, Form()]
RECENT_FAILURES = 20
TOP_TERMS = 8
BACKFILL_PRESETS = {"24h": ("Last 24 hours", timedelta(days=1)), "7d": ("Last 7 days", timedelta(days=7)),
                    "30d": ("Last 30 days", timedelta(days=30)), "all": ("All time", None),
                    "custom": ("Custom range", None)}
# What the backfill form offers beyond the time range (fields of the one trace filter).
BACKFILL_FIELDS = ("status", "annotated", "name", "release", "environment", "tag", "q")
FIELD_LABELS = {"output": "output", "input": "input", "system": "system prompt", "conversation": "conversation",
                "tool_calls": "tool calls", "tool_results": "tool results", "metadata": "metadata"}


# ---------------------------------------------------------------------------
# Template helpers


def top_terms(spec: dict, n: int = TOP_TERMS) -> dict[str, list[tuple[str, float]]]:
    """A classifier's most weighted text features, towards fail and towards pass, readable."""
    pairs = list(zip(spec.get("vocabulary") or [], spec.get("coef") or []))
    ranked = sorted(pairs, key=lambda p: p[1])
    return {"fail": [(_term(f), w) for f, w in reversed(ranked[-n:]) if w > 0],
            "pass": [(_term(f), w) for f, w in ranked[:n] if w < 0]}


def _term(feature: str) -> str:
    if feature.startswith("w:"):
        return f"“{feature[2:]}”"
    if feature.startswith("c:"):
        return f"“{feature[2:]}” (characters)"
    return feature


def has_number_token(pattern: str) -> bool:
    """Mined phrases write any number as the token 0; the reader should be told."""
    return "0" in str(pattern).split()


templates.env.globals["evals_top_terms"] = top_terms
templates.env.globals["evals_field_label"] = lambda name: FIELD_LABELS.get(name, name)
templates.env.filters["evals_has_number_token"] = has_number_token


def is_admin(ctx: ProjectContext) -> bool:
    return ctx.role.at_least(Role.admin)



def evaluator_url(evaluator: Evaluator) -> str:
    return f"/projects/{evaluator.project_id}/evaluators/{evaluator.id}"


# ---------------------------------------------------------------------------
# The evaluator list


@dataclass
class EvaluatorRow:
    evaluator: Evaluator
    issue: Issue | None
    versions: list[EvaluatorVersion]
    rate: dict | None

    @property
    def active_version(self) -> EvaluatorVersion | None:
        return next((v for v in self.versions if v.id == self.evaluator.active_version_id), None)

    @property
    def shown_version(self) -> EvaluatorVersion | None:
        """The active version's figures; before any activation, the latest version's."""
        return self.active_version or (self.versions[0] if self.versions else None)

    @property
    def generating(self) -> bool:
        return any(v.status in GENERATING for v in self.versions)

    @property
    def fit_for_gating(self) -> bool:
        return service.fit_for_gating(self.active_version)

    @property
    def chance_reason(self) -> str | None:
        return service.no_better_than_chance(self.shown_version)


@dataclass
class IssueRow:
    issue: Issue
    positives: int
    negatives: int
    needs: str | None


def list_context(session: Session, ctx: ProjectContext) -> dict:
    project_id = ctx.project.id
    evaluators = repository.evaluators_of(session, project_id)
    versions = repository.versions_for_evaluators(session, [e.id for e in evaluators])
    active = [v for e in evaluators for v in versions[e.id] if v.id == e.active_version_id]
    rates = service.estimated_failure_rates(session, active)
    issues = {i.id: i for i in issues_repository.open_issues(session, project_id)}
    rows = [EvaluatorRow(e, issues.get(e.issue_id), versions[e.id], rates.get(e.active_version_id))
            for e in evaluators]
    rows.sort(key=lambda row: row.chance_reason is None)  # "retire or refine" first: they need a decision
    uncovered = issues_without_evaluator(session, ctx, issues, evaluators)
    return {"project": ctx.project, "rows": rows, "issue_rows": uncovered,
            "polling": any(r.generating for r in rows), "is_admin": is_admin(ctx),
            "gate_min_mcc": eval_settings().gate_min_mcc, "nav": "evaluators"}


def issues_without_evaluator(session: Session, ctx: ProjectContext, issues: dict[int, Issue],
                             evaluators: list[Evaluator]) -> list[IssueRow]:
    covered = {e.issue_id for e in evaluators}
    # Ignored issues are never evaluated (the online run skips them): nothing to offer.
    uncovered = [i for i in issues.values() if i.id not in covered and i.state != "ignored"]
    example_sets = service.issue_example_sets(session, ctx.project.id, [i.id for i in uncovered])
    return [IssueRow(i, len(example_sets[i.id].positives), len(example_sets[i.id].negatives),
                     example_sets[i.id].needs()) for i in uncovered]


@router.get("/projects/{project_id}/evaluators", response_class=HTMLResponse)
def evaluators_page(project_id: Id, request: Request, session: SessionDep, ctx: ProjectViewer) -> HTMLResponse:
    context = list_context(session, ctx)
    if is_htmx(request) and request.headers.get("hx-target") == "evaluator-table":
        return render(request, "evals/_evaluator_table.html", context)
    return render(request, "evals/list.html", context)


@router.post("/projects/{project_id}/evaluators/generate")
def generate(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin,
             issue_id: Annotated[Id, Form()]) -> Response:
    """Generate the issue's evaluator in the background, then show its page (which polls)."""
    try:
        version = flows.request_generation(session, ctx.project.id, issue_id, actor_id=_user_id(ctx))
    except AppError as error:
        return form_error(request, session, error, "evals/_generate_form.html",
                          {"project": ctx.project, "issue_id": issue_id})
    evaluator = service.get_evaluator(session, ctx.project.id, version.evaluator_id)
    return redirect(evaluator_url(evaluator), request)


def _user_id(ctx: ProjectContext) -> int | None:
    return ctx.user.id if ctx.user else None


# ---------------------------------------------------------------------------
# Hand-written evaluators


@dataclass
class ManualForm:
    issue_id: int | None = None
    name: str = ""
    kind: str = "rule"
    field: str = "output"
    match: str = "phrase"
    mode: str = "contains"
    pattern: str = ""
    case_sensitive: bool = False
    prompt: str = ""

    @classmethod
    def of_spec(cls, spec: dict | None, issue_id: int | None) -> "ManualForm | None":
        """The form showing a stored spec, or None when the form cannot show it (e.g. a spec sent over the API)."""
        spec = spec or {}
        if spec.get("family") == "judge" and isinstance(spec.get("prompt"), str):
            return cls(issue_id, kind="judge", prompt=spec["prompt"])
        clauses = spec.get("clauses") or []
        if spec.get("family") != "rule" or len(clauses) != 1 or clauses[0].get("kind") not in ("phrase", "regex"):
            return None
        clause = clauses[0]
        return cls(issue_id, field=clause.get("field", "output"), match=clause["kind"],
                   mode="lacks" if clause.get("negate") else "contains", pattern=clause.get("pattern", ""),
                   case_sensitive=bool(clause.get("case_sensitive")))

    def spec(self) -> dict:
        if self.kind == "judge":
            settings = eval_settings()
            if not settings.llm_configured:
                raise Unprocessable("An LLM judge needs SEXTANT_LLM_BASE_URL, SEXTANT_LLM_API_KEY and "
                                    "SEXTANT_LLM_MODEL to be set.", details={"field": "kind"})
            return generation.envelope("judge", model=settings.llm_model, prompt=self.prompt, max_output_tokens=200)
        if self.kind != "rule":
            raise Unprocessable(f"Unknown evaluator kind {self.kind!r}.", details={"field": "kind"})
        if not self.pattern.strip():
            # An empty regex would match every trace: refuse it rather than fail everything.
            raise Unprocessable("Write the phrase or pattern to look for.", details={"field": "spec"})
        clause = {"field": self.field, "kind": self.match, "pattern": self.pattern,
                  "negate": self.mode == "lacks", "case_sensitive": self.case_sensitive}
        return generation.envelope("rule", combine="any", clauses=[clause])


def manual_context(session: Session, ctx: ProjectContext, form: ManualForm,
                   evaluator: Evaluator | None = None) -> dict:
    """The form writes a new evaluator, or (with `evaluator`) a new version of a hand-written one."""
    issues = [i for i in issues_repository.open_issues(session, ctx.project.id) if i.state != "ignored"]
    action = f"/projects/{ctx.project.id}/evaluators" + (f"/{evaluator.id}/versions" if evaluator else "")
    return {"project": ctx.project, "form": form, "issues": issues, "fields": FIELD_LABELS,
            "llm_configured": eval_settings().llm_configured,
            "evaluator": evaluator, "form_action": action, "nav": "evaluators"}


@router.get("/projects/{project_id}/evaluators/new", response_class=HTMLResponse)
def manual_page(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin,
                issue_id: Id | None = None) -> HTMLResponse:
    return render(request, "evals/new.html", manual_context(session, ctx, ManualForm(issue_id=issue_id)))


@router.post("/projects/{project_id}/evaluators")
def create_manual(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin,
                  issue_id: Annotated[Id, Form()], name: FormStr = "", kind: FormStr = "rule",
                  field: FormStr = "output", match: FormStr = "phrase", mode: FormStr = "contains",
                  pattern: FormStr = "", case_sensitive: FormStr = "", prompt: FormStr = "") -> Response:
    """Scored on every label at once (like the API); a refused spec comes back in the form, as typed."""
    form = ManualForm(issue_id, name, kind, field, match, mode, pattern, bool(case_sensitive), prompt)
    return _save_manual(request, session, ctx, form, lambda: flows.create_manual(
        session, ctx.project.id, issue_id, name, form.spec(), actor_id=_user_id(ctx)))


@router.get("/projects/{project_id}/evaluators/{evaluator_id}/edit", response_class=HTMLResponse)
def edit_manual_page(project_id: Id, request: Request, session: SessionDep,
                     ctx: ProjectAdmin, evaluator: EvaluatorDep) -> HTMLResponse:
    """The latest version of a hand-written evaluator in the form, to save as the next version."""
    service.check_hand_written(evaluator)
    latest = repository.versions_of(session, evaluator.id)[0]
    form = ManualForm.of_spec(latest.spec, evaluator.issue_id)
    context = manual_context(session, ctx, form or ManualForm(evaluator.issue_id), evaluator=evaluator)
    return render(request, "evals/edit.html", {**context, "latest": latest, "spec_shown": form is not None})


@router.post("/projects/{project_id}/evaluators/{evaluator_id}/versions")
def add_manual_version(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin,
                       evaluator: EvaluatorDep, kind: FormStr = "rule", field: FormStr = "output",
                       match: FormStr = "phrase", mode: FormStr = "contains", pattern: FormStr = "",
                       case_sensitive: FormStr = "", prompt: FormStr = "") -> Response:
    form = ManualForm(evaluator.issue_id, evaluator.name, kind, field, match, mode, pattern, bool(case_sensitive),
                      prompt)
    return _save_manual(request, session, ctx, form, lambda: flows.add_manual_version(
        session, evaluator, form.spec(), actor_id=_user_id(ctx)), evaluator)


def _save_manual(request: Request, session: Session, ctx: ProjectContext, form: ManualForm, save,
                 evaluator: Evaluator | None = None) -> Response:
    try:
        version = save()
    except AppError as error:
        return form_error(request, session, error, "evals/_manual_form.html",
                          lambda: manual_context(session, ctx, form, evaluator))
    return redirect(evaluator_url(service.get_evaluator(session, ctx.project.id, version.evaluator_id)), request)


# ---------------------------------------------------------------------------
# One evaluator


def detail_context(session: Session, ctx: ProjectContext, evaluator: Evaluator) -> dict:
    versions = repository.versions_of(session, evaluator.id)
    active = next((v for v in versions if v.id == evaluator.active_version_id), None)
    issue = issues_repository.get_issue(session, ctx.project.id, evaluator.issue_id) if evaluator.issue_id else None
    return {"project": ctx.project, "evaluator": evaluator, "issue": issue, "versions": versions,
            "active_version": active, "fit_for_gating": service.fit_for_gating(active),
            "fit_by_version": {v.id: service.fit_for_gating(v) for v in versions},
            "chance_by_version": {v.id: service.no_better_than_chance(v) for v in versions},
            "rate": service.estimated_failure_rate(session, active) if active else None,
            "generating": any(v.status in GENERATING for v in versions), "is_admin": is_admin(ctx),
            "gate_min_mcc": eval_settings().gate_min_mcc, "nav": "evaluators",
            "llm_today": llm_budget.today(ctx.project.id, evaluator.id)
            if active and generation.calls_llm(active.spec or {}) else None}


def runs_context(session: Session, ctx: ProjectContext, evaluator: Evaluator, versions=None) -> dict:
    versions = repository.versions_of(session, evaluator.id) if versions is None else versions
    runs = repository.runs_for_versions(session, ctx.project.id, [v.id for v in versions])
    numbers = {v.id: v.number for v in versions}
    return {"project": ctx.project, "evaluator": evaluator, "runs": runs, "version_numbers": numbers,
            "runs_polling": any(r.status in service.RUN_IN_PROGRESS for r in runs),
            "is_admin": is_admin(ctx)}


@router.get("/projects/{project_id}/evaluators/{evaluator_id}", response_class=HTMLResponse)
def evaluator_page(project_id: Id, request: Request, session: SessionDep,
                   ctx: ProjectViewer, evaluator: EvaluatorDep) -> HTMLResponse:
    context = detail_context(session, ctx, evaluator)
    context.update(runs_context(session, ctx, evaluator, context["versions"]))
    context.update(failures_page(session, context["versions"]))
    context["backfill"] = BackfillForm()
    context.update(backfill_choices())
    return render(request, "evals/evaluator.html", context)


def failures_page(session: Session, versions: list[EvaluatorVersion], before: tuple[datetime, int] | None = None) -> dict:
    """RECENT_FAILURES failing verdicts (with input and output excerpts), and the cursor of the next page."""
    rows = repository.recent_failures(session, [v.id for v in versions], RECENT_FAILURES + 1, before)
    last = rows[RECENT_FAILURES - 1][0] if len(rows) > RECENT_FAILURES else None
    return {"failures": rows[:RECENT_FAILURES],
            "failures_next": {"before_at": last.trace_start.isoformat(), "before_id": last.id} if last else None}


@router.get("/projects/{project_id}/evaluators/{evaluator_id}/failures", response_class=HTMLResponse)
def older_failures(project_id: Id, request: Request, session: SessionDep, ctx: ProjectViewer,
                   evaluator: EvaluatorDep, before_at: datetime, before_id: Id) -> HTMLResponse:
    """The next page of "Recent failures it found" (the list's "Older failures" button)."""
    page = failures_page(session, repository.versions_of(session, evaluator.id), (before_at, before_id))
    return render(request, "evals/_failures.html", {"project": ctx.project, "evaluator": evaluator, **page})


def render_parts(request: Request, session: Session, ctx: ProjectContext, evaluator: Evaluator) -> HTMLResponse:
    """The summary and the versions, swapped out of band: both change with any version or state change."""
    return render(request, "evals/_parts.html", {**detail_context(session, ctx, evaluator), "oob": True})


@router.get("/projects/{project_id}/evaluators/{evaluator_id}/versions", response_class=HTMLResponse)
def versions_part(project_id: Id, request: Request, session: SessionDep,
                  ctx: ProjectViewer, evaluator: EvaluatorDep) -> HTMLResponse:
    """Polled while a version is generating; stops (no trigger left) once none is."""
    return render_parts(request, session, ctx, evaluator)


@router.post("/projects/{project_id}/evaluators/{evaluator_id}/versions/{version_id}/activate")
def activate(project_id: Id, version_id: Id, request: Request, session: SessionDep,
             ctx: ProjectAdmin, evaluator: EvaluatorDep, allow_weak: Annotated[str, Form()] = "") -> HTMLResponse:
    service.activate(session, evaluator, service.get_version(session, evaluator, version_id), actor=ctx.actor,
                     allow_weak=allow_weak == "1")
    return render_parts(request, session, ctx, evaluator)


@router.post("/projects/{project_id}/evaluators/{evaluator_id}/deactivate")
def deactivate(project_id: Id, request: Request, session: SessionDep,
               ctx: ProjectAdmin, evaluator: EvaluatorDep) -> HTMLResponse:
    service.deactivate(session, evaluator, actor=ctx.actor)
    return render_parts(request, session, ctx, evaluator)


@router.post("/projects/{project_id}/evaluators/{evaluator_id}/regenerate")
def regenerate(project_id: Id, request: Request, session: SessionDep,
               ctx: ProjectAdmin, evaluator: EvaluatorDep) -> HTMLResponse:
    """A new version from the issue's current labels (generated evaluators only)."""
    if evaluator.origin != "generated" or evaluator.issue_id is None:
        raise Unprocessable("Only a generated evaluator can be regenerated; write a new rule instead.")
    flows.request_generation(session, ctx.project.id, evaluator.issue_id, actor_id=_user_id(ctx))
    return render_parts(request, session, ctx, evaluator)


@router.post("/projects/{project_id}/evaluators/{evaluator_id}/sampling")
def set_sampling(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin, evaluator: EvaluatorDep,
                 sampling_percent: FormStr) -> HTMLResponse:
    context = {"project": ctx.project, "evaluator": evaluator, "sampling_percent": sampling_percent}
    try:
        service.set_sampling_rate(session, evaluator, _percent(sampling_percent) / 100)
    except AppError as error:
        return form_error(request, session, error, "evals/_sampling_form.html", context)
    return render(request, "evals/_sampling_form.html", {**context, "saved": True, "sampling_percent": None})


def _percent(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise Unprocessable("The sampling rate must be a number of percent, e.g. 25.",
                            details={"field": "sampling_rate"}) from None


# ---------------------------------------------------------------------------
# Backfills


@dataclass
class BackfillForm:
    preset: str = "7d"
    start_from: str = ""
    start_to: str = ""
    fields: dict[str, str] | None = None  # the other filter fields, as typed

    def filters(self, now: datetime) -> dict:
        """Trace filter fields; a preset becomes a start time (fixed at the moment of asking)."""
        if self.preset not in BACKFILL_PRESETS:
            raise Unprocessable(f"Unknown time range {self.preset!r}.", details={"field": "preset"})
        found: dict = dict(self.fields or {})
        window = BACKFILL_PRESETS[self.preset][1]
        if window is not None:
            found["start_from"] = now - window
        if self.preset == "custom":
            found.update(start_from=self.start_from, start_to=self.start_to)
        return found


async def read_backfill_form(request: Request) -> BackfillForm:
    typed = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return BackfillForm(preset=typed.get("preset", "7d"), start_from=typed.get("start_from", ""),
                        start_to=typed.get("start_to", ""),
                        fields={name: typed.get(name, "") for name in BACKFILL_FIELDS})


def backfill_choices() -> dict:
    return {"presets": BACKFILL_PRESETS, "filter_labels": {name: LABELS[name] for name in BACKFILL_FIELDS},
            "filter_choices": {"status": STATUS_CHOICES, "annotated": ANNOTATION_CHOICES}}


@router.post("/projects/{project_id}/evaluators/{evaluator_id}/backfills")
def start_backfill(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin, evaluator: EvaluatorDep,
                   form: Annotated[BackfillForm, Depends(read_backfill_form)]) -> HTMLResponse:
    """Start a run over past traces; the form comes back (with any error), the run list out of band."""
    context = {"project": ctx.project, "evaluator": evaluator, "backfill": form, **backfill_choices()}
    try:
        flows.start_backfill(session, ctx.project.id, [evaluator.id], form.filters(utcnow()), actor=ctx.actor)
    except AppError as error:
        return form_error(request, session, error, "evals/_backfill_form.html", context)
    context.update(runs_context(session, ctx, evaluator))
    return render(request, "evals/_backfill_form.html", {**context, "started": True, "oob_runs": True})


@router.get("/projects/{project_id}/evaluators/{evaluator_id}/runs", response_class=HTMLResponse)
def runs_part(project_id: Id, request: Request, session: SessionDep,
              ctx: ProjectViewer, evaluator: EvaluatorDep) -> HTMLResponse:
    """Polled while a run is queued or running."""
    return render(request, "evals/_runs.html", runs_context(session, ctx, evaluator))


@router.post("/projects/{project_id}/evaluators/{evaluator_id}/runs/{run_id}/cancel")
def cancel_run(project_id: Id, run_id: Id, request: Request, session: SessionDep,
               ctx: ProjectAdmin, evaluator: EvaluatorDep) -> HTMLResponse:
    service.cancel_backfill(session, ctx.project.id, run_id)
    return render(request, "evals/_runs.html", runs_context(session, ctx, evaluator))


def run_progress(run: EvalRun) -> int | None:
    """Percent done, when the run knows its total."""
    if run.status == RunStatus.DONE:
        return 100
    return min(100, round(100 * run.done / run.total)) if run.total else None


templates.env.globals["evals_run_progress"] = run_progress


# ---------------------------------------------------------------------------
# A trace's verdicts (included by the trace page)


@router.get("/projects/{project_id}/traces/{trace_id}/evaluations", response_class=HTMLResponse)
def trace_evaluations(project_id: Id, trace_id: Id, request: Request, session: SessionDep,
                      ctx: ProjectViewer) -> HTMLResponse:
    trace = traces_service.get_trace(session, ctx.project.id, trace_id)
    rows = repository.trace_evaluations(session, trace.id)
    return render(request, "evals/_trace_evaluations.html", {"project": ctx.project, "trace": trace, "rows": rows})
