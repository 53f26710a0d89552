"""Jobs of the gate domain (declared here, registered by `worker/`). Idempotent: the run's
cursor and counts move together in one commit per batch, so a re-delivered job resumes after it."""

import time

from sqlalchemy.orm import Session

from app.core.jobs import Sessions, job
from app.core.settings import gate_settings
from app.gate import service

TIME_BUDGET_S = 30.0


def _run_lost(session: Session, run_id: int, *, gave_up: bool) -> None:
    if gave_up:  # otherwise the run resumes after its cursor
        service.fail_run(session, run_id, "worker lost")


@job("gate.run", on_lost=_run_lost)
def run(sessions: Sessions, run_id: int) -> bool:
    """Work through a gate run in committed batches for a while; when more remains, the job
    asks for itself again (a fresh job: others get a turn). True when more remains."""
    deadline = time.monotonic() + TIME_BUDGET_S
    try:
        while time.monotonic() < deadline:
            with sessions() as session:
                if not service.run_batch(session, run_id, gate_settings().gate_batch):
                    return False
        with sessions() as session:
            run.enqueue(session, run_id)
        return True
    except Exception as error:
        with sessions() as session:
            service.fail_run(session, run_id, f"{type(error).__name__}: {error}")
        raise
