"""JSON routes of the evals domain, under /api/v1."""

import json

from fastapi import APIRouter, Response, status

from app.accounts.access import ProjectAdmin, ProjectViewer
from app.core.deps import SessionDep
from app.core.errors import NotFound
from app.core.types import Id
from app.evals import flows, repository, service
from app.evals.deps import EvaluatorDep
from app.evals.schemas import (BackfillCreate, EvaluatorRead, EvaluatorUpdate, FailureRate, GenerateRequest,
                               ManualEvaluatorCreate, ManualVersionCreate, RunRead, VersionRead)

router = APIRouter(tags=["evaluators"])


def _read(session, evaluator, with_versions: bool = False) -> EvaluatorRead:
    versions = repository.versions_of(session, evaluator.id)
    active = next((v for v in versions if v.id == evaluator.active_version_id), None)
    weak = service.no_better_than_chance(active or next((v for v in versions if v.status == "ready"), None))
    return EvaluatorRead.model_validate(evaluator).model_copy(update={
        "fit_for_gating": service.fit_for_gating(active), "no_better_than_chance": bool(weak), "chance_reason": weak,
        "versions": [version_read(v) for v in versions] if with_versions else []})


def version_read(version) -> VersionRead:
    weak = service.no_better_than_chance(version)
    return VersionRead.model_validate(version).model_copy(update={"no_better_than_chance": bool(weak),
                                                                   "chance_reason": weak})


@router.get("/evaluators", response_model=list[EvaluatorRead])
def list_evaluators(ctx: ProjectViewer, session: SessionDep):
    return [_read(session, e) for e in repository.evaluators_of(session, ctx.project.id)]


@router.post("/evaluators/generate", response_model=VersionRead, status_code=status.HTTP_202_ACCEPTED,
             summary="Generate (a new version of) the issue's evaluator in the background")
def generate(body: GenerateRequest, ctx: ProjectAdmin, session: SessionDep):
    return flows.request_generation(session, ctx.project.id, body.issue_id,
                                    actor_id=ctx.user.id if ctx.user else None)


@router.post("/evaluators", response_model=EvaluatorRead, status_code=status.HTTP_201_CREATED,
             summary="A hand-written evaluator, scored on the labels like generated ones")
def create_manual(body: ManualEvaluatorCreate, ctx: ProjectAdmin, session: SessionDep):
    version = flows.create_manual(session, ctx.project.id, body.issue_id, body.name, body.spec,
                                    actor_id=ctx.user.id if ctx.user else None)
    return _read(session, service.get_evaluator(session, ctx.project.id, version.evaluator_id), True)


@router.get("/evaluators/{evaluator_id}", response_model=EvaluatorRead)
def get_evaluator(ctx: ProjectViewer, evaluator: EvaluatorDep, session: SessionDep):
    return _read(session, evaluator, True)


@router.patch("/evaluators/{evaluator_id}", response_model=EvaluatorRead)
def update_evaluator(body: EvaluatorUpdate, ctx: ProjectAdmin, evaluator: EvaluatorDep, session: SessionDep):
    service.set_sampling_rate(session, evaluator, body.sampling_rate)
    return _read(session, evaluator, True)


@router.post("/evaluators/{evaluator_id}/versions", response_model=VersionRead, status_code=status.HTTP_201_CREATED,
             summary="A new version of a hand-written evaluator, scored on the labels (activate it to run it)")
def add_manual_version(body: ManualVersionCreate, ctx: ProjectAdmin, evaluator: EvaluatorDep, session: SessionDep):
    return version_read(flows.add_manual_version(session, evaluator, body.spec,
                                                 actor_id=ctx.user.id if ctx.user else None))


@router.post("/evaluators/{evaluator_id}/versions/{version_id}/activate", response_model=EvaluatorRead)
def activate(version_id: Id, ctx: ProjectAdmin, evaluator: EvaluatorDep, session: SessionDep,
             allow_weak: bool = False):
    """409 for a version no better than chance, unless allow_weak=true."""
    service.activate(session, evaluator, service.get_version(session, evaluator, version_id), actor=ctx.actor,
                     allow_weak=allow_weak)
    return _read(session, evaluator, True)


@router.post("/evaluators/{evaluator_id}/deactivate", response_model=EvaluatorRead)
def deactivate(ctx: ProjectAdmin, evaluator: EvaluatorDep, session: SessionDep):
    service.deactivate(session, evaluator, actor=ctx.actor)
    return _read(session, evaluator, True)


@router.get("/evaluators/{evaluator_id}/failure-rate", response_model=FailureRate,
            summary="Observed failure rate over 7 days, corrected with TPR/TNR (Rogan–Gladen)")
def failure_rate(ctx: ProjectViewer, evaluator: EvaluatorDep, session: SessionDep):
    if evaluator.active_version_id is None:
        raise NotFound("This evaluator has no active version.")
    rate = service.estimated_failure_rate(session, repository.get_version(session, evaluator.active_version_id))
    return FailureRate(**{k: rate.get(k) for k in FailureRate.model_fields})


@router.get("/issues/{issue_id}/examples.jsonl", response_class=Response,
            summary="The issue's labelled examples, one JSON object per line (the input of `sextant evals fit`)",
            responses={200: {"content": {"application/x-ndjson": {}}}})
def labelled_examples(issue_id: Id, ctx: ProjectViewer, session: SessionDep) -> Response:
    examples = service.labelled_examples(session, ctx.project.id, issue_id)
    lines = "".join(json.dumps(example, ensure_ascii=False) + "\n" for example in examples)
    return Response(lines, media_type="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="issue-{issue_id}-examples.jsonl"'})


@router.post("/eval-runs", response_model=RunRead, status_code=status.HTTP_202_ACCEPTED,
             summary="Backfill: run evaluators over past traces (a time range or a filter)")
def start_backfill(body: BackfillCreate, ctx: ProjectAdmin, session: SessionDep):
    return flows.start_backfill(session, ctx.project.id, body.evaluator_ids, body.filter, actor=ctx.actor)


@router.get("/eval-runs/{run_id}", response_model=RunRead)
def get_run(run_id: Id, ctx: ProjectViewer, session: SessionDep):
    return service.get_run(session, ctx.project.id, run_id)


@router.post("/eval-runs/{run_id}/cancel", response_model=RunRead,
             summary="Cancel a queued or running backfill (verdicts already stored stay)")
def cancel_run(run_id: Id, ctx: ProjectAdmin, session: SessionDep):
    return service.cancel_backfill(session, ctx.project.id, run_id)
