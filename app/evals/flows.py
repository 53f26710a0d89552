"""Orchestration of evals: generation jobs, online runs, backfills, realignment. Failures the
evaluators detect reach their issues through `app/loop.py`."""

from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.evals import repository, service, tasks
from app.evals.models import VersionStatus

REALIGN_DELAY_S = 60.0


def request_generation(session: Session, project_id: int, issue_id: int, *, actor_id: int | None):
    version = service.request_generation(session, project_id, issue_id, actor_id=actor_id)
    tasks.generate.enqueue(session, version.id)
    return version


def create_manual(session: Session, project_id: int, issue_id: int, name: str, spec: dict, *, actor_id: int | None):
    return _score_when_pending(session, service.create_manual(session, project_id, issue_id, name, spec,
                                                              actor_id=actor_id))


def add_manual_version(session: Session, evaluator, spec: dict, *, actor_id: int | None):
    return _score_when_pending(session, service.add_manual_version(session, evaluator, spec, actor_id=actor_id))


def _score_when_pending(session: Session, version):
    """A hand-written judge is scored by the worker (the same task as generation)."""
    if version.status == VersionStatus.PENDING:
        tasks.generate.enqueue(session, version.id)
    return version


def start_backfill(session: Session, project_id: int, evaluator_ids: Sequence[int], filters: dict, *, actor: str):
    run = service.start_backfill(session, project_id, evaluator_ids, filters)
    audit.record(session, actor=actor, action="backfill.started", target=f"eval_run:{run.id}", project_id=project_id,
                 data={"evaluator_ids": list(evaluator_ids), "filter": run.filter, "traces": run.total})
    tasks.backfill.enqueue(session, run.id)
    return run


def traces_ingested(session: Session, project_id: int, trace_ids: Sequence[int]) -> None:
    """New or updated traces are evaluated by every running evaluator, after commit."""
    if repository.has_running_evaluators(session, project_id):
        tasks.run_online.enqueue(session, project_id, list(trace_ids))


def labels_changed(session: Session, project_id: int) -> None:
    """New human labels (a pass is a negative for every issue): re-score the project's
    active evaluators against labels they never saw, at most once a minute each."""
    for evaluator in repository.evaluators_of(session, project_id):
        if evaluator.active:
            tasks.realign.enqueue(session, evaluator.id, coalesce_seconds=REALIGN_DELAY_S)

