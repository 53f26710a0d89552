"""Jobs of the annotations domain (declared here, registered by `worker/`)."""

from app.annotations import service
from app.core.jobs import Sessions, job


@job("annotations.sample_live")
def sample_live(sessions: Sessions, project_id: int, trace_ids: list[int]) -> int:
    """Offer these traces to the project's live queues; idempotent (sampling is deterministic)."""
    with sessions() as session:
        return service.sample_live(session, project_id, trace_ids)
