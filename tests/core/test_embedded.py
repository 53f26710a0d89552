"""`sextant serve` with nothing configured: embedded Postgres and Redis, web,
worker and beat; the CLI works beside it; Ctrl-C leaves no process behind."""

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from celery import Celery

from app.core.embedded import EmbeddedRedis
from app.core.redis import celery_broker_url
from tests.live import free_port, wait_until_healthy

pytestmark = [pytest.mark.slow, pytest.mark.live_server]


def embedded_env(data_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SEXTANT_DATABASE_URL", "SEXTANT_REDIS_URL")}
    env["SEXTANT_DATA_DIR"] = str(data_dir)
    return env


def sextant(env, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120, **kwargs)


def processes_of(proc: subprocess.Popen, data_dir) -> list[psutil.Process]:
    """The supervisor's process tree plus the daemonised Postgres of this data dir."""
    tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    pgdata = str((data_dir / "postgres").resolve())
    for candidate in psutil.process_iter(["cmdline"]):
        if pgdata in " ".join(candidate.info["cmdline"] or []):
            tree.append(candidate)
    return tree


def run_ping_task(data_dir) -> str:
    url = celery_broker_url(EmbeddedRedis(data_dir).url)
    client = Celery(broker=url, backend=url)
    try:
        return client.send_task("core.ping", args=["hello"]).get(timeout=60)
    finally:
        client.close()


def stop(proc: subprocess.Popen, tree: list[psutil.Process]) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    gone, alive = psutil.wait_procs(tree, timeout=15)
    assert alive == [], f"left running: {[p.pid for p in alive]}"


def test_embedded_serve_runs_everything_and_stops_cleanly(tmp_path):
    data_dir = tmp_path / "data"
    env = embedded_env(data_dir)
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    console = (tmp_path / "console.txt").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env,
                            stdout=console, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(base, proc, timeout=90)
        assert run_ping_task(data_dir) == "hello"
        created = sextant(env, "project", "create", "Demo")
        assert created.returncode == 0, created.stderr
        project_id = created.stdout.strip().splitlines()[-1]
        key = sextant(env, "api-key", "create", "--project", "Demo").stdout.strip().splitlines()[-1]
        assert key.startswith("sx_")
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/api/v1/projects/{project_id}", headers=headers).json()["name"] == "Demo"
        tree = processes_of(proc, data_dir)
        assert len(tree) >= 5  # supervisor, web, worker (+ pool), beat, postgres
    finally:
        if proc.poll() is None:
            stop(proc, processes_of(proc, data_dir))
        console.close()

    # The console says where Sextant is, where its data and log are, and how to stop it;
    # migrations' and Celery's chatter goes to the log.
    printed = (tmp_path / "console.txt").read_text()
    assert f"Sextant is running at http://127.0.0.1:{port}" in printed and "Ctrl-C stops it" in printed
    assert str(data_dir.resolve()) in printed and str(data_dir.resolve() / "sextant.log") in printed
    for chatter in ("setup plugin", "Running upgrade", "celery@", "superuser", "Uvicorn running"):
        assert chatter not in printed, chatter
    logged = (data_dir / "sextant.log").read_text()
    assert "celery@" in logged and "Uvicorn running" in logged

    # A second start finds the same data.
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env)
    try:
        wait_until_healthy(base, proc, timeout=90)
        assert httpx.get(f"{base}/api/v1/projects/{project_id}", headers=headers).status_code == 200
    finally:
        stop(proc, processes_of(proc, data_dir))


def test_cli_reports_errors_without_a_traceback(tmp_path):
    env = embedded_env(tmp_path / "data")
    missing = sextant(env, "api-key", "create", "--project", "Nope")
    assert missing.returncode != 0
    assert "No project named 'Nope'" in missing.stderr
    assert "Traceback" not in missing.stderr


def child_named(proc: subprocess.Popen, data_dir, word: str) -> psutil.Process:
    [found] = [p for p in processes_of(proc, data_dir) if word in " ".join(p.cmdline())
               and p.pid != proc.pid and (word != "celery" or p.ppid() == proc.pid)]
    return found


def restarted(proc: subprocess.Popen, data_dir, word: str, old_pid: int, timeout: float = 60) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = child_named(proc, data_dir, word)
            if found.pid != old_pid:
                return found
        except (ValueError, psutil.Error):
            pass
        time.sleep(0.3)
    raise AssertionError(f"{word} was not restarted")


def test_the_supervisor_restarts_a_child_that_dies_and_reaps_it(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                            env=embedded_env(data_dir))
    try:
        wait_until_healthy(base, proc, timeout=90)
        for word in ("uvicorn", "redis-server", str((data_dir / "postgres").resolve())):
            victim = child_named(proc, data_dir, word)
            victim.kill()  # kill -9
            restarted(proc, data_dir, word, victim.pid)
            assert not psutil.pid_exists(victim.pid) or victim.status() != psutil.STATUS_ZOMBIE
            wait_until_healthy(base, proc, timeout=60)  # web, database and Redis answer again
        assert proc.poll() is None  # the stack kept running throughout
        assert run_ping_task(data_dir) == "hello"  # and the worker consumes from the new Redis
    finally:
        stop(proc, processes_of(proc, data_dir))
