"""A real Sextant server (and Celery worker) in subprocesses, for browser and end-to-end tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import psycopg
from sqlalchemy.engine import make_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    database_url: str
    env: dict[str, str]
    process: subprocess.Popen

    def conninfo(self) -> str:
        return make_url(self.database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def truncate_all(self) -> None:
        tables = [r[0] for r in self.sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        if tables:
            self.sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


def server_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SEXTANT_DATABASE_URL=database_url, SEXTANT_REDIS_URL=redis_url, **extra)
    return env


def start_server(env: dict[str, str], port: int | None = None) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, process)
    return process, url


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become healthy")


def start_worker(env: dict[str, str], beat_schedule: str | None = None) -> subprocess.Popen:
    """A Celery worker (with beat inside it when given a schedule file), in its own process group."""
    beat = ["--beat", "--schedule", beat_schedule] if beat_schedule else []
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--loglevel", "WARNING",
         "--concurrency", "2", "--without-gossip", "--without-mingle", "--without-heartbeat", *beat], env=env,
        start_new_session=True)


def kill_hard(process: subprocess.Popen) -> None:
    """kill -9 of a process and everything it started (a worker's pool processes too)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
