"""Orchestration of gate runs: the only place that enqueues the gate's job."""

from sqlalchemy.orm import Session

from app.gate import service, tasks
from app.gate.models import GateRun
from app.gate.schemas import GateRunCreate


def create_run(session: Session, project_id: int, body: GateRunCreate, *, trigger: str) -> GateRun:
    """A traces run is queued at once; a file run waits for its outputs and `start`."""
    run = service.create_run(session, project_id, body, trigger=trigger)
    if run.status == "queued":
        tasks.run.enqueue(session, run.id)
    return run


def start(session: Session, run: GateRun) -> GateRun:
    service.start(session, run)
    tasks.run.enqueue(session, run.id)
    return run
