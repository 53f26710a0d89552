"""The real Postgres and Redis the tests run against.

`SEXTANT_TEST_DATABASE_URL` / `SEXTANT_TEST_REDIS_URL` when set; else the local
servers at 127.0.0.1:5432 / :6379 when they answer; else embedded ones started
for the test session. Each xdist worker gets its own databases and Redis db.

`SEXTANT_TEST_EMBEDDED=1` (`make test-embedded`) always uses the embedded
servers, the PostgreSQL 18 and Redis 6.2 that `make run` starts, whatever
answers locally. They live under a directory of this test run
(`SEXTANT_TEST_RUN_DIR`, made by the first pytest process and inherited by its
xdist workers), so concurrent runs never share a server.
"""

import os
import socket
import tempfile
from functools import cache
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def run_id() -> str:
    """Names this test process's databases: concurrent test runs must never share one."""
    return f"{worker_id()}_{os.getpid()}"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


_embedded = []


def embedded_forced() -> bool:
    return os.environ.get("SEXTANT_TEST_EMBEDDED", "") not in ("", "0")


def run_dir() -> Path:
    """This test run's directory for embedded servers (shared by its xdist workers)."""
    if not os.environ.get("SEXTANT_TEST_RUN_DIR"):
        os.environ["SEXTANT_TEST_RUN_DIR"] = tempfile.mkdtemp(prefix="sextant-test-run-")
    return Path(os.environ["SEXTANT_TEST_RUN_DIR"])


@cache
def admin_database_url() -> str:
    """A URL to a maintenance database where test databases can be created."""
    configured = os.environ.get("SEXTANT_TEST_DATABASE_URL")
    if configured and not embedded_forced():
        return configured
    if _answers("127.0.0.1", 5432) and not embedded_forced():
        return LOCAL_POSTGRES
    from app.core.embedded import EmbeddedPostgres

    postgres = EmbeddedPostgres(run_dir())
    url = postgres.start()
    _embedded.append(postgres)
    return str(make_url(url).set(database="postgres"))


@cache
def redis_base_url() -> str:
    configured = os.environ.get("SEXTANT_TEST_REDIS_URL")
    if configured and not embedded_forced():
        return configured
    if _answers("127.0.0.1", 6379) and not embedded_forced():
        return LOCAL_REDIS
    from app.core.embedded import EmbeddedRedis

    server = EmbeddedRedis(run_dir() / f"redis-{worker_id()}")
    url = server.start()
    _embedded.append(server)
    return url


def redis_url_for_worker(base: str) -> str:
    """A Redis db from 1 to 15 picked by process, so concurrent runs rarely meet
    (db 0 is left to a developer's own Sextant)."""
    db = 1 + os.getpid() % 15
    if base.startswith("unix://"):
        return base.split("?")[0] + f"?db={db}"
    return str(base.rsplit("/", 1)[0]) + f"/{db}" if base.count("/") >= 3 else f"{base}/{db}"


def drop_database(admin_url: str, name: str) -> None:
    conninfo = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def recreate_database(admin_url: str, name: str) -> str:
    """Drop and create database `name`; return its SQLAlchemy URL."""
    url = make_url(admin_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def stop_embedded() -> None:
    while _embedded:
        _embedded.pop().stop()
    admin_database_url.cache_clear()
    redis_base_url.cache_clear()
