"""The Celery worker: the application from `app.core.jobs`, its beat schedule, process hooks.

Tasks acknowledge late and are re-delivered if a worker dies mid-task; every
job body is idempotent (upserts on natural keys), so a re-run does no harm.
"""

import os

# Numerical libraries must not start a thread per core in every pool process.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from celery.signals import worker_process_init, worker_ready  # noqa: E402

from app.core import jobs  # noqa: E402
from app.issues import alerts  # noqa: E402

RELAY_EVERY_S = 5.0

celery_app = jobs.celery_app()
# Issue changes made by jobs enqueue their alerts (the web app installs the same hook).
alerts.install_hook()
celery_app.conf.update(
    imports=("worker.tasks",),
    beat_schedule={
        # The job outbox: send what could not be sent after commit, resume work whose worker died.
        "jobs-relay": {"task": "core.relay_jobs", "schedule": RELAY_EVERY_S, "options": {"expires": RELAY_EVERY_S}},
        # A safety net: ingestion asks for indexing after each commit already.
        "index-search": {"task": "traces.index_search", "schedule": 60.0},
        # Issue states follow the clock (new -> ongoing) and the occurrence rate (escalation);
        # new occurrences also ask for a check, coalesced.
        "issues-check-states": {"task": "issues.check_states", "schedule": 300.0},
        # Skips projects whose failures and issues did not change since the last run.
        "issues-suggestions": {"task": "issues.refresh_suggestions", "schedule": 600.0},
        "issues-sweep-alerts": {"task": "issues.sweep_alerts", "schedule": 120.0},
        # Daily roll-ups of the dashboard: only days with new traces or verdicts (and today) are recomputed.
        "dashboard-refresh": {"task": "dashboard.refresh", "schedule": 60.0},
    },
)


@worker_process_init.connect
def _fresh_connections_after_fork(**_kwargs) -> None:
    # Pooled connections must never be shared across a fork.
    from app.core.db import reset_engine
    from app.core.redis import reset_redis

    reset_engine()
    reset_redis()


@worker_ready.connect
def _report_alive(**_kwargs) -> None:
    from app.core import heartbeat

    heartbeat.start_beating()
