"""Task entry points. Thin: each calls one app flow or task body with ids."""

from app.annotations import tasks as annotations_tasks
from app.traces import tasks as traces_tasks
from worker.celery_app import celery_app


@celery_app.task(name="core.ping")
def ping(value: str = "pong") -> str:
    """A trivial task: proves a worker is consuming the queue."""
    return value


@celery_app.task(name="traces.index_search")
def index_search() -> int:
    indexed = traces_tasks.index_search()
    if indexed >= traces_tasks.SEARCH_BATCH:
        index_search.apply_async(countdown=1)  # more waiting: continue soon
    return indexed


@celery_app.task(name="annotations.sample_live")
def sample_live(project_id: int, trace_ids: list[int]) -> int:
    return annotations_tasks.sample_live(project_id, trace_ids)
