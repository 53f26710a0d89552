"""Jobs of the dashboard domain (declared here, registered by `worker/`)."""

from app.core.jobs import Sessions, job
from app.dashboard import repository, service


@job("dashboard.refresh")
def refresh(sessions: Sessions, project_id: int | None = None) -> int:
    """Bring the daily roll-ups up to date (every project when none is named; beat runs it each
    minute). Each project in its own unit of work; returns the days recomputed."""
    with sessions() as session:
        project_ids = [project_id] if project_id is not None else repository.project_ids(session)
    recomputed = 0
    for one in project_ids:
        with sessions() as session:
            recomputed += service.refresh(session, one)
    return recomputed
