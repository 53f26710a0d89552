"""The `sextant` command."""

import sys
from contextlib import contextmanager

import click

from app.core.embedded import services
from app.core.settings import core_settings


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


@main.command("export")
@click.argument("kind", type=click.Choice(["traces", "spans", "annotations", "eval-results", "issues"]))
@click.option("--project", "project_name", required=True, help="Project name.")
@click.option("--format", "fmt", default="jsonl", show_default=True, type=click.Choice(["jsonl", "csv"]))
@click.option("--out", "out_path", default="-", type=click.Path(dir_okay=False, allow_dash=True),
              help="File to write (default: standard output).")
@click.option("--filter", "filters", multiple=True, metavar="FIELD=VALUE",
              help="A trace filter field, as in the explorer's URL (repeatable): --filter release=v2")
def export(kind: str, project_name: str, fmt: str, out_path: str, filters: tuple[str, ...]) -> None:
    """Export a project's rows as JSONL or CSV, streamed (the same rows as GET /api/v1/exports/KIND)."""
    with services(need_redis=False):
        from app.accounts import service as accounts
        from app.audit import service as audit
        from app.core.streaming import lines
        from app.exports import service as exports
        from app.traces.service import parse_filter

        pairs = [item.partition("=") for item in filters]
        if any(not sep for _, sep, _ in pairs):
            fail("--filter takes FIELD=VALUE")
        with unit_of_work_or_fail() as session:
            found = accounts.find_project(session, project_name)
            where = parse_filter({name: value for name, _, value in pairs})
            audit.record(session, actor="cli", action="export.requested", target=f"export:{kind}",
                         project_id=found.id, data={"format": fmt, "filter": where.model_dump(
                             mode="json", exclude_defaults=True)})
            with click.open_file(out_path, "w", encoding="utf-8") as out:
                for line in lines(exports.rows(session, kind, found.id, where, fmt), fmt,
                                  exports.KINDS[kind].columns):
                    out.write(line)


@main.group()
def evals() -> None:
    """Evaluators from labelled files (no server needed; same code as the worker)."""


def _llm_from_settings():
    from app.core.settings import eval_settings
    from app.evals.generation import LLMConfig

    settings = eval_settings()
    if not settings.llm_configured:
        return None
    return LLMConfig(base_url=settings.llm_base_url, api_key=settings.llm_api_key, model=settings.llm_model)


@evals.command("fit")
@click.option("--examples", "examples_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSONL: one {id, input, output, label: pass|fail, feedback?, group?, metadata?, messages?} per line.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Evaluator JSON to write.")
@click.option("--issue-title", default="", help="The failure mode's name (helps the LLM judge).")
@click.option("--issue-description", default="", help="The failure mode's definition.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--allow-weak", is_flag=True,
              help="Write the evaluator even when it is no better than chance (exit 0 instead of 3).")
def evals_fit(examples_path: str, out_path: str, issue_title: str, issue_description: str, seed: int,
              allow_weak: bool) -> None:
    """Generate an evaluator; print its MCC with its 95% interval and the chosen spec.

    Exit 3 (and nothing written) when it is no better than chance: its MCC is undefined or its
    interval reaches 0. --allow-weak writes it anyway.
    """
    import json

    from app.core.settings import eval_settings
    from app.evals.generation import Budget, fit_file
    from app.evals.generation.files import InputError

    settings = eval_settings()
    budget = Budget(llm_max_calls=settings.llm_max_calls, llm_max_tokens=settings.llm_max_tokens)
    try:
        summary = fit_file(examples_path, out_path, issue_title=issue_title, issue_description=issue_description,
                           seed=seed, llm=_llm_from_settings(), budget=budget, allow_weak=allow_weak)
    except InputError as error:
        fail(str(error))
    if summary["status"] == "insufficient_data":
        fail(summary["message"])
    click.echo(json.dumps(summary, indent=1, ensure_ascii=False))
    if summary["no_better_than_chance"]:
        written = f"written to {out_path} (--allow-weak)" if allow_weak else "not written (--allow-weak writes it)"
        click.echo(f"warning: this evaluator is no better than chance: {summary['no_better_than_chance']}; "
                   f"{written}", err=True)
        if not allow_weak:
            raise SystemExit(3)


@evals.command("apply")
@click.option("--evaluator", "evaluator_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSONL of traces: {id, input, output, ...} per line.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="JSONL to write: {id, verdict, score, explanation} per line.")
def evals_apply(evaluator_path: str, input_path: str, output_path: str) -> None:
    """Run an evaluator over traces."""
    from app.evals.generation import SpecError, apply_file
    from app.evals.generation.files import InputError

    try:
        written = apply_file(evaluator_path, input_path, output_path, llm=_llm_from_settings())
    except (InputError, SpecError, ValueError) as error:
        fail(str(error))
    click.echo(f"wrote {written} verdicts to {output_path}")


@main.command()
@click.option("--url", required=True, envvar="SEXTANT_URL", help="The Sextant server (or SEXTANT_URL).")
@click.option("--api-key", required=True, envvar="SEXTANT_API_KEY", help="A project API key (or SEXTANT_API_KEY).")
@click.option("--release", required=True, help="The candidate release.")
@click.option("--file", "file_path", type=click.Path(dir_okay=False),
              help="JSONL of candidate outputs: {id, input, output, messages?, metadata?} per line.")
@click.option("--traces-filter", default=None,
              help="Gate the traces already ingested with the release, filtered like the explorer's URL: "
                   "'environment=staging&name=chat' ('' for all of them).")
@click.option("--baseline", default="production", show_default=True,
              help="production, production:DAYS (default 7) or release:NAME.")
@click.option("--commit", default=None, envvar="SEXTANT_COMMIT", help="The commit being gated (shown in the report).")
@click.option("--trigger", default="", help="Who or what ran this (a CI job URL, say).")
@click.option("--wait/--no-wait", default=False, help="Wait for the verdict (exit 0 pass, 1 regression, 2 error).")
@click.option("--timeout", default=1800.0, show_default=True, help="Seconds to wait for the verdict.")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "junit"]), default="table",
              show_default=True)
def gate(url: str, api_key: str, release: str, file_path: str | None, traces_filter: str | None, baseline: str,
         commit: str | None, trigger: str, wait: bool, timeout: float, output_format: str) -> None:
    """Ask the server whether RELEASE regresses against the baseline, issue by issue.

    Exits 0 when it passes, 1 on a regression, 2 on an error (server unreachable,
    bad input, nothing fit to gate)."""
    import json

    from pathlib import Path

    from app.gate import client

    try:
        if (file_path is None) == (traces_filter is None):
            raise client.GateError("give exactly one of --file and --traces-filter")
        if file_path is not None and not Path(file_path).is_file():
            raise client.GateError(f"no such file: {file_path}")
        gate_client = client.GateClient(url, api_key)
        run = gate_client.run(release=release, file=file_path, baseline=client.parse_baseline(baseline),
                              traces_filter=None if traces_filter is None else client.parse_traces_filter(traces_filter),
                              commit=commit, trigger=trigger)
        if wait:
            run = gate_client.wait(run["id"], timeout)
    except (client.GateError, ValueError) as error:
        click.echo(f"sextant gate: {error}", err=True)
        sys.exit(client.ERROR)
    if output_format == "json":
        click.echo(json.dumps(run, indent=1, ensure_ascii=False))
    elif output_format == "junit":
        click.echo(client.format_junit(run))
    else:
        click.echo(client.format_table(run, url) if wait else
                   f"gate run #{run['id']} {run['status']}: {url.rstrip('/')}/projects/{run['project_id']}/gate-runs/{run['id']}")
    sys.exit(client.exit_code(run) if wait else client.PASS)


if __name__ == "__main__":
    main()
