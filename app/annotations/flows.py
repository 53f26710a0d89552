"""Orchestration around annotations: what the domain enqueues. Reactions that reach other
domains (a judgement's failure modes, labels reaching issues and evaluators) are in `app/loop.py`."""

from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.annotations import repository, tasks


def offer_to_live_queues(session: Session, project_id: int, trace_ids: Sequence[int]) -> None:
    """New or updated traces are sampled into the project's live queues, after commit."""
    if repository.live_queues(session, project_id):
        tasks.sample_live.enqueue(session, project_id, list(trace_ids))
