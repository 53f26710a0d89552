"""Task bodies of the traces domain (registered in worker/tasks.py)."""

import time

from app.core.db import unit_of_work
from app.traces import repository

SEARCH_BATCH = 500
# Only the first characters of a trace are searchable; whole transcripts would
# make vectors near tsvector's 1 MB limit and slow every search.
SEARCH_MAX_CHARS = 100_000
TIME_BUDGET_S = 20.0


def index_search() -> int:
    """Index pending traces in batches for up to TIME_BUDGET_S; return how many.

    Each batch commits on its own, so a crash loses at most one batch of work, and
    SKIP LOCKED lets two workers share the backlog.
    """
    done, deadline = 0, time.monotonic() + TIME_BUDGET_S
    while time.monotonic() < deadline:
        with unit_of_work() as session:
            count = repository.index_search_batch(session, SEARCH_BATCH, SEARCH_MAX_CHARS)
        done += count
        if count < SEARCH_BATCH:
            break
    return done
