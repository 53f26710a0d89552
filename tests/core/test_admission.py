"""Admission control on a live server: any burst is served or refused at once, never stalled.

The bug this guards against: each request's sync dependency checked out a pooled
connection, then the request queued for a thread of the 40-thread pool, while all 40
threads were blocked waiting for a connection. Nothing moved until the pool's time-out.
These servers get a 30 s pool time-out, so such a stall cannot pass for slowness.
"""

import asyncio
import threading
import time

import psycopg
import pytest

from tests.core.rawhttp import Answer, request_once, send_once
from tests.traces.test_otlp_live import project_key

BURST = 100  # well beyond the 40 threads and the 32 pooled connections
KEY_CACHE_SECONDS = 3


@pytest.fixture(scope="module")
def patient_server(live_server, redis_url):
    from tests.live import server_env, start_server, stop_process

    env = server_env(live_server.database_url, redis_url, SEXTANT_DB_POOL_TIMEOUT="30",
                     SEXTANT_API_KEY_CACHE_SECONDS=str(KEY_CACHE_SECONDS))
    process, url = start_server(env)
    yield url
    stop_process(process)


def get(url: str, path: str, headers: dict[str, str] | None = None) -> Answer:
    return request_once(url, "GET", path, headers, timeout=10)


def burst_in_background(url: str, path: str, headers: dict[str, str], answers: list) -> threading.Thread:
    """Send BURST requests at once from a thread; each answer is appended as it arrives."""

    async def one() -> None:
        answers.append(await send_once(url, "GET", path, headers, timeout=60))

    async def burst() -> None:
        await asyncio.gather(*(one() for _ in range(BURST)))

    thread = threading.Thread(target=lambda: asyncio.run(burst()))
    thread.start()
    return thread


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def lock_waiters(live) -> int:
    return live.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")[0][0]


def test_a_burst_beyond_the_pool_is_refused_at_once_while_the_admitted_are_served(live, patient_server):
    from app.core.settings import database_settings

    pool = database_settings()
    headers = {"Authorization": f"Bearer {project_key(live.database_url)}"}
    assert get(patient_server, "/api/v1/traces", headers).status == 200
    answers: list[Answer] = []
    with psycopg.connect(live.conninfo()) as blocker:
        # Every admitted request blocks on this lock, holding its connection and its thread.
        blocker.execute("LOCK TABLE trace IN ACCESS EXCLUSIVE MODE")
        sender = burst_in_background(patient_server, "/api/v1/traces", headers, answers)
        admitted = pool.db_pool_size + pool.db_max_overflow - 2  # two kept for /healthz and key touches
        refused_in_time = wait_for(lambda: len(answers) >= BURST - admitted, timeout=10)
        refused = list(answers)
        waiting = wait_for(lambda: lock_waiters(live) == admitted, timeout=10) and lock_waiters(live)
        # Still saturated: a page is refused with the error page, and health still answers.
        page = get(patient_server, "/", {"Accept": "text/html"})
        health = get(patient_server, "/healthz")
        blocker.rollback()
    sender.join(timeout=60)

    assert refused_in_time, f"{len(refused)} of {BURST} answered while the admitted requests were blocked"
    assert waiting == admitted  # the server's own backends: as many as it admitted, all inside
    assert [a.status for a in refused] == [503] * (BURST - admitted)
    for answer in refused:
        assert answer.headers["retry-after"] == "1"
        assert b'"code":"service_unavailable"' in answer.body
    assert page.status == 503 and page.headers["retry-after"] == "1"
    assert page.headers["content-type"].startswith("text/html") and b"retry shortly" in page.body
    assert health.status == 200
    assert not sender.is_alive()
    assert sorted(a.status for a in answers[len(refused):]) == [200] * admitted


def test_ingestion_has_its_own_smaller_cap(live, patient_server):
    """Beyond the ingestion cap an export is refused at once, while reads are still admitted."""
    from app.core.settings import limits_settings

    cap = limits_settings().ingest_max_in_flight
    headers = {"Authorization": f"Bearer {project_key(live.database_url)}", "Content-Type": "application/json"}
    body = b'{"resourceSpans": []}'
    answers: list[Answer] = []

    async def export() -> None:
        answers.append(await send_once(patient_server, "POST", "/v1/traces", headers, body, timeout=60))

    async def burst() -> None:
        await asyncio.gather(*(export() for _ in range(cap + 10)))

    with psycopg.connect(live.conninfo()) as blocker:
        blocker.execute("LOCK TABLE api_key IN ACCESS EXCLUSIVE MODE")  # held at the key lookup
        sender = threading.Thread(target=lambda: asyncio.run(burst()))
        sender.start()
        refused_in_time = wait_for(lambda: len(answers) >= 10, timeout=10)
        refused = list(answers)
        inside = wait_for(lambda: lock_waiters(live) == cap, timeout=10) and lock_waiters(live)
        blocker.rollback()
    sender.join(timeout=60)

    assert refused_in_time and inside == cap
    assert [a.status for a in refused] == [503] * 10
    assert all(b"ingestion requests" in a.body for a in refused)
    assert sorted(a.status for a in answers[10:]) == [200] * cap


def test_a_key_is_looked_up_once_per_cache_period_and_revocation_holds_after_it(live, patient_server):
    key = project_key(live.database_url)
    headers = {"Authorization": f"Bearer {key}"}
    assert get(patient_server, "/api/v1/traces", headers).status == 200
    looked_up = time.monotonic()
    # Its use is recorded after the response, in its own transaction.
    assert wait_for(lambda: live.sql("SELECT last_used_at IS NOT NULL FROM api_key") == [(True,)], 10)
    live.sql("UPDATE api_key SET revoked_at = now()")
    with psycopg.connect(live.conninfo()) as blocker:
        # A lookup would wait behind this lock: answering shows the key came from the cache.
        blocker.execute("LOCK TABLE api_key IN ACCESS EXCLUSIVE MODE")
        cached = get(patient_server, "/api/v1/traces", headers)
        answered_within = time.monotonic() - looked_up
        blocker.rollback()
    time.sleep(max(0.0, KEY_CACHE_SECONDS - (time.monotonic() - looked_up)) + 0.2)
    expired = get(patient_server, "/api/v1/traces", headers)

    assert answered_within < KEY_CACHE_SECONDS and cached.status == 200
    assert expired.status == 401 and b"Invalid or revoked API key." in expired.body
