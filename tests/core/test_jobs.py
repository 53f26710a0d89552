"""Jobs are declared once beside their bodies, enqueued by reference, and callable in tests."""

from sqlalchemy import select

from app.core import jobs
from app.core.jobs import joined, pending_jobs
from app.traces import flows as traces_flows
from app.traces import tasks as traces_tasks
from app.traces.models import Trace


def test_every_job_is_declared_in_its_domains_tasks_module_and_registered_with_the_worker(redis_url):
    from worker.celery_app import celery_app
    import worker.tasks  # noqa: F401  (registers the jobs)

    declared = jobs.registered()
    assert {"evals.generate", "evals.backfill", "traces.index_search", "issues.deliver_webhook"} <= set(declared)
    for name, job in declared.items():
        domain = name.split(".")[0]
        assert job.body.__module__ == f"app.{domain}.tasks", name
        assert celery_app.tasks[name].name == name


def test_a_flow_enqueues_a_job_by_reference_and_a_rollback_drops_it(db, project):
    traces_flows.traces_changed(db, project.id, [1, 2])
    assert pending_jobs(db)[0] == (traces_tasks.index_search.name, (), None, traces_flows.SEARCH_INDEX_DELAY_S)
    db.rollback()
    assert pending_jobs(db) == []


def test_a_job_body_runs_in_the_tests_session(db, factory, project):
    created = factory.traces(project, 3)
    pending = lambda: db.scalars(select(Trace.id).where(Trace.search_pending, Trace.project_id == project.id)).all()
    assert sorted(pending()) == sorted(t.id for t in created)
    assert traces_tasks.index_search(joined(db)) == len(created)
    assert pending() == []
    assert traces_tasks.index_search(joined(db)) == 0


def test_a_backfill_body_runs_to_the_end_in_the_tests_session(db, factory, project):
    from app.evals import flows as evals_flows
    from app.evals import tasks as evals_tasks
    from app.evals.models import EvalResult, EvalRun
    from tests.evals.test_views import evaluator, issue_of

    row, version = evaluator(db, project, issue_of(db, project))
    traces = factory.traces(project, 7)
    run = evals_flows.start_backfill(db, project.id, [row.id], {}, actor="test")
    assert evals_tasks.backfill(joined(db), run.id) is False  # nothing more to do
    assert (db.get(EvalRun, run.id).status, db.get(EvalRun, run.id).done) == ("done", len(traces))
    assert sorted(db.scalars(select(EvalResult.trace_id).where(EvalResult.evaluator_version_id == version.id))) \
        == sorted(t.id for t in traces)
