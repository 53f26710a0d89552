"""The `sextant` command."""

import os
import sys
from contextlib import contextmanager

import click

from app.core.settings import clear_caches, core_settings


@contextmanager
def services(*, need_redis: bool):
    """Point this process at Postgres (and Redis): the configured ones, else the
    embedded ones under the data dir, started here unless already running."""
    from app.core.embedded import EmbeddedPostgres, EmbeddedRedis

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
        yield
    finally:
        for service in reversed(started):
            service.stop()


def fail(message: str) -> None:
    raise click.ClickException(message)


@contextmanager
def unit_of_work_or_fail():
    from psycopg.errors import UndefinedTable
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from app.core.db import unit_of_work
    from app.core.errors import AppError

    try:
        with unit_of_work() as session:
            yield session
    except AppError as exc:
        fail(exc.message)
    except ProgrammingError as exc:
        if isinstance(exc.orig, UndefinedTable):
            fail("The database has no Sextant tables yet; run `sextant migrate` first.")
        raise
    except OperationalError as exc:
        fail(f"Cannot reach the database: {exc.orig}")


@click.group()
def main() -> None:
    """Sextant: evaluate LLM applications from their production traces."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default SEXTANT_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default SEXTANT_PORT or 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Run Sextant. With no database or Redis configured, run everything embedded."""
    from app.core.supervisor import serve_embedded, serve_web

    settings = core_settings()
    host, port = host or settings.host, port or settings.port
    if settings.embedded:
        sys.exit(serve_embedded(settings.data_dir, host, port))
    serve_web(host, port)


@main.command()
@click.option("--concurrency", default=2, show_default=True, type=int)
def worker(concurrency: int) -> None:
    """Run a Celery worker (background jobs)."""
    with services(need_redis=True):
        from worker.celery_app import celery_app

        celery_app.worker_main(["worker", "--loglevel", "INFO", "--concurrency", str(concurrency)])


@main.command()
def beat() -> None:
    """Run the Celery beat scheduler (periodic jobs)."""
    with services(need_redis=True):
        from worker.celery_app import celery_app

        schedule = core_settings().data_dir / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        celery_app.start(["beat", "--loglevel", "INFO", "--schedule", str(schedule)])


@main.command()
def migrate() -> None:
    """Apply database migrations."""
    with services(need_redis=False):
        from app.core import migrate as migrations

        migrations.upgrade()
        click.echo("database is up to date")


@main.command("create-user")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", default="admin", show_default=True,
              type=click.Choice(["admin", "annotator", "viewer"]))
@click.option("--name", default="")
def create_user(email: str, password: str, role: str, name: str) -> None:
    """Create a user with a role in the organisation."""
    with services(need_redis=False):
        from app.accounts import service

        with unit_of_work_or_fail() as session:
            user = service.create_user(session, email=email, password=password, role=role,
                                       name=name, actor="cli")
        click.echo(f"created {role} {user.email} (id {user.id})")


@main.group()
def project() -> None:
    """Projects."""


@project.command("create")
@click.argument("name")
def project_create(name: str) -> None:
    """Create a project; prints its id on the last line."""
    with services(need_redis=False):
        from app.accounts import repository, service
        from app.accounts.models import Organization

        with unit_of_work_or_fail() as session:
            organization = repository.first_organization(session)
            if organization is None:
                organization = Organization(name="Default")
                session.add(organization)
                session.flush()
            created = service.create_project(session, organization_id=organization.id, name=name, actor="cli")
        click.echo(f"created project {created.name!r}")
        click.echo(created.id)


@project.command("list")
def project_list() -> None:
    """List projects."""
    with services(need_redis=False):
        from sqlalchemy import select

        from app.accounts.models import Project

        with unit_of_work_or_fail() as session:
            for found in session.scalars(select(Project).order_by(Project.id)):
                click.echo(f"{found.id}\t{found.name}")


@main.group("api-key")
def api_key() -> None:
    """API keys."""


@api_key.command("create")
@click.option("--project", "project_name", required=True, help="Project name.")
@click.option("--name", default="", help="A label for the key.")
def api_key_create(project_name: str, name: str) -> None:
    """Create an API key; prints the key alone on the last line."""
    with services(need_redis=False):
        from app.accounts import service

        with unit_of_work_or_fail() as session:
            found = service.find_project(session, project_name)
            key, plain = service.create_api_key(session, found, name=name, actor="cli")
        click.echo(f"created API key {key.prefix}… for project {found.name!r} (shown once)")
        click.echo(plain)


if __name__ == "__main__":
    main()
