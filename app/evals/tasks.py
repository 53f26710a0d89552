"""Jobs of the evals domain (declared here, registered by `worker/`). Each is idempotent."""

import time

from sqlalchemy.orm import Session

from app import loop
from app.core.db import utcnow
from app.core.jobs import Sessions, job
from app.evals import repository, service
from app.evals.models import GENERATING, Evaluator, RunStatus, VersionStatus

BACKFILL_BATCH = 500
BACKFILL_TIME_BUDGET_S = 30.0


WORKER_STOPPED = "resumed after the worker stopped"
WORKER_LOST = "failed: worker lost"


def _generation_lost(session: Session, version_id: int, *, gave_up: bool) -> None:
    version = repository.get_version(session, version_id)
    if version is not None and version.status in GENERATING:
        version.status, version.error = (VersionStatus.FAILED, WORKER_LOST) if gave_up else (version.status,
                                                                                            WORKER_STOPPED)


@job("evals.generate", on_lost=_generation_lost)
def generate(sessions: Sessions, version_id: int) -> str:
    """Generate (or score, for a hand-written judge) a pending evaluator version.

    Only this job moves a version out of "running", and its outbox row lets one worker
    at a time run it: a "running" version seen here is one whose worker died (resumed).
    """
    with sessions() as session:
        version = repository.get_version(session, version_id)
        if version is None or version.status not in GENERATING:
            return version.status if version else "missing"
        version.status = VersionStatus.RUNNING
    try:
        with sessions() as session:
            version = service.run_generation(session, version_id)
            return version.status
    except Exception as error:
        with sessions() as session:
            version = repository.get_version(session, version_id)
            version.status, version.error = VersionStatus.FAILED, f"{type(error).__name__}: {error}"[:2000]
        raise


@job("evals.run_online")
def run_online(sessions: Sessions, project_id: int, trace_ids: list[int]) -> int:
    with sessions() as session:
        found = service.evaluate_traces(session, project_id, trace_ids)
        loop.failures_detected(session, project_id, found)
        return len(found)


def _backfill_lost(session: Session, run_id: int, *, gave_up: bool) -> None:
    run = repository.get_run(session, run_id)
    if run is None or run.status not in service.RUN_IN_PROGRESS:
        return
    if gave_up:
        run.status, run.note, run.finished_at = RunStatus.FAILED, WORKER_LOST, utcnow()
    else:
        run.note = WORKER_STOPPED


@job("evals.backfill", on_lost=_backfill_lost)
def backfill(sessions: Sessions, run_id: int) -> bool:
    """Work through a backfill in committed batches for a while; when more remains, the
    job asks for itself again (a fresh job: others get a turn). True when more remains."""
    deadline = time.monotonic() + BACKFILL_TIME_BUDGET_S
    while time.monotonic() < deadline:
        with sessions() as session:
            found = service.backfill_batch(session, run_id, BACKFILL_BATCH)
            if found is None:
                return False
            run = repository.get_run(session, run_id)
            loop.failures_detected(session, run.project_id, found)
    with sessions() as session:
        backfill.enqueue(session, run_id)
    return True


@job("evals.realign")
def realign(sessions: Sessions, evaluator_id: int) -> dict | None:
    with sessions() as session:
        evaluator = session.get(Evaluator, evaluator_id)
        return service.realign(session, evaluator) if evaluator else None
