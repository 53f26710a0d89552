"""Jobs survive a broker outage and a worker's death: a real server, real Celery workers,
a Redis of the test's own that it stops, and kill -9."""

import subprocess
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import redis
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.core.errors import Conflict
from app.evals import flows as evals_flows
from app.evals.models import Evaluator, EvaluatorVersion
from app.issues import service as issues
from tests.evals.test_service import labelled_project
from tests.evals.test_views import RULE
from tests.factories import Factory
from tests.live import free_port, kill_hard, server_env, start_server, start_worker, stop_process

pytestmark = pytest.mark.slow

LEASE_S = "2"


class OwnRedis:
    """A redis-server of this test alone, stopped and started again like a real outage."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                         "--appendonly", "no"], stdout=subprocess.DEVNULL)
        wait_for(lambda: self.answers(), 10, "redis did not start")

    def stop(self) -> None:
        self.process.kill()  # an outage, not a clean shutdown
        self.process.wait()

    def answers(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_timeout=1).ping()
        except redis.RedisError:
            return False


def wait_for(condition, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.3)
    raise AssertionError(message)


@pytest.fixture
def own_redis():
    server = OwnRedis()
    yield server
    server.stop()


@pytest.fixture
def stack(live, own_redis, tmp_path):
    """A web server and a worker (with beat, hence the relay) on the live database and `own_redis`."""
    env = server_env(live.database_url, own_redis.url, SEXTANT_JOB_LEASE_SECONDS=LEASE_S,
                     SEXTANT_JOB_MAX_ATTEMPTS="3")
    web, url = start_server(env)
    workers = []

    def worker() -> subprocess.Popen:
        workers.append(start_worker(env, beat_schedule=str(tmp_path / f"beat-{len(workers)}")))
        return workers[-1]

    yield url, worker
    for process in workers:
        stop_process(process)
    stop_process(web)


def seed(live, *, traces: int = 0) -> dict:
    """A project with an API key and an active rule evaluator; `traces` stored traces, every
    third of which the rule fails."""
    engine = create_engine(live.database_url)
    try:
        with Session(engine) as session:
            factory = Factory(session)
            project = factory.project()
            key = factory.api_key(project)
            issue = issues.create_issue(session, project.id, "Invents a refund window", actor="test")
            evaluator = Evaluator(project_id=project.id, issue_id=issue.id, name="Refund window", origin="manual")
            session.add(evaluator)
            session.flush()
            version = EvaluatorVersion(evaluator_id=evaluator.id, number=1, status="ready", family="rule", spec=RULE)
            session.add(version)
            session.flush()
            evaluator.active, evaluator.active_version_id = True, version.id
            session.commit()
            return {"project": project.id, "key": key, "issue": issue.id, "evaluator": evaluator.id,
                    "version": version.id}
    finally:
        engine.dispose()


def insert_traces(live, project_id: int, count: int) -> None:
    live.sql("""INSERT INTO trace (project_id, external_id, start_time, end_time, input, output)
                SELECT %s, 'bulk-' || g, now() - g * interval '1 second', now() - g * interval '1 second',
                       'question ' || g, CASE WHEN g %% 3 = 0 THEN 'a refund within 90 days' ELSE 'no' END
                FROM generate_series(1, %s) g""", (project_id, count))


def results_by_trace(live, version_id: int) -> dict[str, list[str]]:
    rows = live.sql("""SELECT t.external_id, r.verdict FROM eval_result r JOIN trace t ON t.id = r.trace_id
                       WHERE r.evaluator_version_id = %s""", (version_id,))
    found: dict[str, list[str]] = {}
    for external_id, verdict in rows:
        found.setdefault(external_id, []).append(verdict)
    return found


def test_with_redis_down_ingestion_answers_at_once_and_every_trace_is_evaluated_once_redis_is_back(
        live, own_redis, stack):
    url, worker = stack
    seeded = seed(live)
    worker()
    outputs = {f"t{i}": ("Sure, a refund within 30 days." if i % 2 else "I cannot help with that.")
               for i in range(12)}
    own_redis.stop()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {seeded['key']}"}, timeout=30) as api:
        for external_id, output in outputs.items():
            started = time.monotonic()
            answer = api.post("/api/v1/traces", json={"traces": [{
                "id": external_id, "input": "Can I get my money back?", "output": output,
                "start_time": datetime.now(timezone.utc).isoformat()}]})
            assert answer.status_code == 200, answer.text
            assert time.monotonic() - started < 1.5  # never waits on the broker
    unsent = live.sql("SELECT count(*) FROM job WHERE name = 'evals.run_online' AND sent_at IS NULL")
    assert unsent == [(len(outputs),)]  # written with the traces, waiting for Redis

    own_redis.start()
    wait_for(lambda: len(results_by_trace(live, seeded["version"])) == len(outputs), 60,
             "not every trace was evaluated after Redis came back")
    wait_for(lambda: live.sql("SELECT count(*) FROM job WHERE done_at IS NULL AND name LIKE 'evals.%%'") == [(0,)],
             30, "online evaluation jobs were left unfinished")
    expected = {external_id: ["fail" if "refund within" in output else "pass"]
                for external_id, output in outputs.items()}
    assert results_by_trace(live, seeded["version"]) == expected


def test_a_backfill_whose_worker_is_killed_is_resumed_by_another(live, stack):
    url, worker = stack
    seeded = seed(live)
    count = 60_000
    insert_traces(live, seeded["project"], count)
    engine = create_engine(live.database_url)
    with Session(engine) as session:
        run_id = evals_flows.start_backfill(session, seeded["project"], [seeded["evaluator"]], {}, actor="test").id
        session.commit()
    engine.dispose()
    first = worker()
    wait_for(lambda: live.sql("SELECT done FROM eval_run WHERE id = %s", (run_id,))[0][0] > 0, 60,
             "the backfill never started")
    kill_hard(first)
    [(status, done_at_kill)] = live.sql("SELECT status, done FROM eval_run WHERE id = %s", (run_id,))
    assert status == "running" and 0 < done_at_kill < count  # killed half-way

    worker()
    wait_for(lambda: live.sql("SELECT status FROM eval_run WHERE id = %s", (run_id,)) == [("done",)], 120,
             "the backfill was not resumed")
    [(done, total, note)] = live.sql("SELECT done, total, note FROM eval_run WHERE id = %s", (run_id,))
    assert (done, total, note) == (count, count, "resumed after the worker stopped")
    verdicts = live.sql("""SELECT verdict, count(*) FROM eval_result WHERE evaluator_version_id = %s
                           GROUP BY verdict ORDER BY verdict""", (seeded["version"],))
    assert verdicts == [("fail", count // 3), ("pass", count - count // 3)]


def test_a_generation_left_running_by_a_dead_worker_fails_and_a_new_one_can_be_requested(live, stack):
    """What kill -9 leaves behind: the version "running", its job claimed under a lease that
    no one renews. Past the last attempt the relay fails it, and a new request is accepted."""
    url, worker = stack
    engine = create_engine(live.database_url)
    with Session(engine) as session:
        project, issue, _, _ = labelled_project(session, Factory(session), n_fail=8, n_pass=8)
        evaluator = Evaluator(project_id=project.id, issue_id=issue.id, name="Detects refunds", origin="generated")
        session.add(evaluator)
        session.flush()
        version = EvaluatorVersion(evaluator_id=evaluator.id, number=1, status="running")
        session.add(version)
        session.commit()
        project_id, issue_id, version_id = project.id, issue.id, version.id
    lapsed = datetime.now(timezone.utc) - timedelta(seconds=1)
    live.sql("""INSERT INTO job (name, args, sent_at, started_at, lease_until, attempts)
                VALUES ('evals.generate', %s, %s, %s, %s, 3)""", (f"[{version_id}]", lapsed, lapsed, lapsed))
    with Session(engine) as session, pytest.raises(Conflict):
        evals_flows.request_generation(session, project_id, issue_id, actor_id=None)  # the stuck state

    worker()
    wait_for(lambda: live.sql("SELECT status FROM evaluator_version WHERE id = %s", (version_id,)) == [("failed",)],
             60, "the lost generation was never failed")
    assert live.sql("SELECT error FROM evaluator_version WHERE id = %s", (version_id,)) == [("failed: worker lost",)]
    assert live.sql("SELECT error FROM job WHERE name = 'evals.generate'") == [("worker lost",)]
    with Session(engine) as session:
        again = evals_flows.request_generation(session, project_id, issue_id, actor_id=None)
        assert (again.number, again.status) == (2, "pending")
        session.commit()
    engine.dispose()
