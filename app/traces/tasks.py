"""Jobs of the traces domain (declared here, registered by `worker/`)."""

import time

from app.core.jobs import Sessions, job
from app.traces import repository

SEARCH_BATCH = 500
# Only the first characters of a trace are searchable; whole transcripts would
# make vectors near tsvector's 1 MB limit and slow every search.
SEARCH_MAX_CHARS = 100_000
TIME_BUDGET_S = 20.0


@job("traces.index_search")
def index_search(sessions: Sessions) -> int:
    """Index pending traces in batches for up to TIME_BUDGET_S; return how many.

    Each batch commits on its own, so a crash loses at most one batch of work, and
    SKIP LOCKED lets two workers share the backlog. When the budget runs out with
    more waiting, the job asks for itself again.
    """
    done, deadline = 0, time.monotonic() + TIME_BUDGET_S
    while time.monotonic() < deadline:
        with sessions() as session:
            count = repository.index_search_batch(session, SEARCH_BATCH, SEARCH_MAX_CHARS)
            done += count
            if count < SEARCH_BATCH:
                return done
    with sessions() as session:
        index_search.enqueue(session, delay=1)  # more waiting: continue soon, others get a turn
    return done
