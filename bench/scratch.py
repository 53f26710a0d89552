"""Scratch databases for the benches: created on the local server, dropped after."""

import os

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
