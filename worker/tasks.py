"""Registers every job declared in `app/<domain>/tasks.py` (`@job("domain.verb")`) with Celery."""

import importlib
import pkgutil

import app
from app.core import jobs
from worker.celery_app import celery_app


def _import_job_modules() -> None:
    importlib.import_module("app.core.tasks")
    for package in pkgutil.iter_modules(app.__path__):
        if package.ispkg and importlib.util.find_spec(f"app.{package.name}.tasks"):
            importlib.import_module(f"app.{package.name}.tasks")


@celery_app.task(name="core.ping")
def ping(value: str = "pong") -> str:
    """A trivial task: proves a worker is consuming the queue."""
    return value


def _register(job: jobs.Job) -> None:
    def run(*args, job_id: int | None = None):  # a plain function: Celery checks arguments by signature
        return job.run(*args, job_id=job_id)

    celery_app.task(name=job.name, ignore_result=True)(run)


_import_job_modules()
for _job in jobs.registered().values():
    _register(_job)
