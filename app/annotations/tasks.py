"""Task bodies of the annotations domain (registered in worker/tasks.py)."""

from app.annotations import service
from app.core.db import unit_of_work


def sample_live(project_id: int, trace_ids: list[int]) -> int:
    """Offer these traces to the project's live queues; idempotent (sampling is deterministic)."""
    with unit_of_work() as session:
        return service.sample_live(session, project_id, trace_ids)
