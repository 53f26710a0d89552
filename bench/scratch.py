"""Scratch databases for the benches: created on the local server, dropped after."""

import argparse
import os

import psycopg
from sqlalchemy.engine import make_url

from tests.services import drop_database as _drop, recreate_database as _recreate

SERVER = os.environ.get("SEXTANT_BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def conninfo(url: str) -> str:
    """A libpq connection string (psycopg) for a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(name: str) -> str:
    return str(make_url(SERVER).set(database=name))


def recreate_database(name: str) -> str:
    return _recreate(SERVER, name)


def drop_database(name: str) -> None:
    _drop(SERVER, name)


def scratch_arguments(doc: str, database: str, **defaults: int) -> argparse.ArgumentParser:
    """The options every seeded bench takes: its size, how often, and which scratch database."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--spans", type=int, default=defaults.get("spans", 1_000_000))
    if "runs" in defaults:
        parser.add_argument("--runs", type=int, default=defaults["runs"])
    parser.add_argument("--database", default=database)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database without seeding")
    return parser


def use_database(name: str) -> str:
    """Point this process (and the servers it starts) at the scratch database `name`."""
    url = database_url(name)
    os.environ["SEXTANT_DATABASE_URL"] = url
    os.environ.setdefault("SEXTANT_REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ.setdefault("SEXTANT_SECRET_KEY", "bench-secret-key-not-for-production")
    return url


def first_project_id(url: str) -> int:
    """The seeded project of a kept database (`--reuse`)."""
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute("SELECT id FROM project ORDER BY id LIMIT 1").fetchone()[0]
