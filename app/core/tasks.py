"""The core's own job: the outbox relay (run by beat every few seconds)."""

from app.core import jobs
from app.core.jobs import Sessions, job


@job("core.relay_jobs")
def relay_jobs(_sessions: Sessions) -> dict:
    """Send what was not sent, resume or fail jobs whose worker died (`app.core.outbox`)."""
    return jobs.relay()._asdict()
