"""A hung Redis (a real redis-server, stopped with SIGSTOP: it accepts connections and never
answers) costs a request at most about a second: the client's connect and read time-outs."""

import os
import signal
import subprocess
import time

import pytest
import redis

from tests.core.rawhttp import request_once
from tests.live import free_port, server_env, start_server, stop_process


@pytest.fixture
def hung_redis_url():
    """A Redis that answers until the test calls `hang()`, then never again."""
    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url, lambda: os.kill(process.pid, signal.SIGSTOP)
    os.kill(process.pid, signal.SIGCONT)
    stop_process(process)


def test_the_client_gives_up_on_a_hung_redis_within_its_time_out(hung_redis_url, monkeypatch):
    from app.core import redis as core_redis
    from app.core.settings import clear_caches

    url, hang = hung_redis_url
    monkeypatch.setenv("SEXTANT_REDIS_URL", url)
    clear_caches()
    core_redis.reset_redis()
    try:
        client = core_redis.get_redis()
        assert client.ping()
        hang()
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.set("sextant:probe", "1")
        waited = time.monotonic() - started
    finally:
        monkeypatch.undo()
        clear_caches()
        core_redis.reset_redis()

    assert core_redis.TIMEOUT_S <= waited < core_redis.TIMEOUT_S + 1.0  # one try, no retries


def test_healthz_reports_a_hung_redis_within_about_a_second(live_server, hung_redis_url):
    url, hang = hung_redis_url
    process, base_url = start_server(server_env(live_server.database_url, url))
    try:
        assert request_once(base_url, "GET", "/healthz", timeout=10).status == 200
        hang()
        started = time.monotonic()
        health = request_once(base_url, "GET", "/healthz", timeout=10)
        waited = time.monotonic() - started
    finally:
        stop_process(process)

    assert health.status == 503 and b'"redis":"error: TimeoutError"' in health.body
    assert waited < 2.0  # the client's 1 s time-out, not /healthz's own 3 s cap
