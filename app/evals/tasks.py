"""Task bodies of the evals domain (registered in worker/tasks.py). Each is idempotent."""

import time

from app.core.db import unit_of_work
from app.evals import flows, repository, service

BACKFILL_BATCH = 500
BACKFILL_TIME_BUDGET_S = 30.0


def generate(version_id: int) -> str:
    with unit_of_work() as session:
        version = repository.get_version(session, version_id)
        if version is None or version.status != "pending":
            return version.status if version else "missing"
        version.status = "running"
    try:
        with unit_of_work() as session:
            version = service.run_generation(session, version_id)
            return version.status
    except Exception as error:
        with unit_of_work() as session:
            version = repository.get_version(session, version_id)
            version.status, version.error = "failed", f"{type(error).__name__}: {error}"[:2000]
        raise


def run_online(project_id: int, trace_ids: list[int]) -> int:
    with unit_of_work() as session:
        found = service.evaluate_traces(session, project_id, trace_ids)
        flows.occurrences_found(session, project_id, found)
        return len(found)


def backfill(run_id: int) -> bool:
    """Work through a backfill for a while; True when more remains (the caller re-enqueues)."""
    deadline = time.monotonic() + BACKFILL_TIME_BUDGET_S
    while time.monotonic() < deadline:
        with unit_of_work() as session:
            found = service.backfill_batch(session, run_id, BACKFILL_BATCH)
            if found is None:
                return False
            run = repository.get_run(session, run_id)
            flows.occurrences_found(session, run.project_id, found)
    return True


def realign(evaluator_id: int) -> dict | None:
    from app.evals.models import Evaluator

    with unit_of_work() as session:
        evaluator = session.get(Evaluator, evaluator_id)
        return service.realign(session, evaluator) if evaluator else None
