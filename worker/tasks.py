"""Task entry points. Thin: each calls one app flow or task body with ids."""

from app.annotations import tasks as annotations_tasks
from app.issues import tasks as issues_tasks
from app.evals import tasks as evals_tasks
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


@celery_app.task(name="evals.generate")
def generate_evaluator(version_id: int) -> str:
    return evals_tasks.generate(version_id)


@celery_app.task(name="evals.run_online")
def run_online(project_id: int, trace_ids: list[int]) -> int:
    return evals_tasks.run_online(project_id, trace_ids)


@celery_app.task(name="evals.backfill")
def backfill(run_id: int) -> bool:
    more = evals_tasks.backfill(run_id)
    if more:
        backfill.apply_async(args=[run_id])  # continue in a fresh task: others get a turn
    return more


@celery_app.task(name="evals.realign")
def realign(evaluator_id: int) -> dict | None:
    return evals_tasks.realign(evaluator_id)


@celery_app.task(name="issues.check_states")
def check_issue_states(project_id: int | None = None) -> int:
    return issues_tasks.check_states(project_id)


@celery_app.task(name="issues.refresh_suggestions")
def refresh_issue_suggestions(project_id: int | None = None, force: bool = False) -> int:
    return issues_tasks.refresh_suggestions(project_id, force)


@celery_app.task(name="issues.notify")
def notify_issue_event(event_id: int) -> int:
    return issues_tasks.notify(event_id)


@celery_app.task(name="issues.deliver_webhook", bind=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> None:
    # The attempt count and the back-off live on the delivery row; Celery only waits.
    retry_in = issues_tasks.deliver_webhook(delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@celery_app.task(name="issues.sweep_alerts")
def sweep_issue_alerts() -> int:
    return issues_tasks.sweep_alerts()
