"""Task entry points. Thin: each calls one app flow with ids."""

from worker.celery_app import celery_app


@celery_app.task(name="core.ping")
def ping(value: str = "pong") -> str:
    """A trivial task: proves a worker is consuming the queue."""
    return value
