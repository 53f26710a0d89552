"""Database engine, sessions and the declarative base.

One session per request or task; it commits at that boundary only. Jobs asked
for during the unit of work are sent after the commit succeeds (see `jobs`).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import StrEnum
from functools import lru_cache

from sqlalchemy import BigInteger, DateTime, MetaData, create_engine, func
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from app.core.settings import core_settings, database_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class CreatedMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


def one_of(column: str, values: type[StrEnum]) -> str:
    """A CHECK clause keeping a status column within its enum's values."""
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def database_url() -> str:
    url = core_settings().database_url
    if not url:
        raise RuntimeError(
            "SEXTANT_DATABASE_URL is not set; run through `sextant` (which starts the "
            "embedded database) or set it to postgresql+psycopg://…"
        )
    return url


@lru_cache
def get_engine() -> Engine:
    settings = database_settings()
    return create_engine(
        database_url(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        # No server-side prepared statements: Postgres would soon reuse one generic plan
        # for any values, and for skewed filters (a word in 90% of traces, a model in
        # half) bench/explorer.py measured 190 ms instead of 0.5 ms. Planning each time
        # costs about a millisecond.
        connect_args={"prepare_threshold": None},
    )


@lru_cache
def session_factory() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


def reset_engine() -> None:
    """Dispose of the engine (after a fork, or when settings change in tests)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    session_factory.cache_clear()


@contextmanager
def committed(session: Session) -> Iterator[Session]:
    """Commit `session` when the block succeeds, roll it back when it raises."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session for one task or command: commit on success, roll back on error."""
    session = session_factory()()
    try:
        with committed(session):
            yield session
    finally:
        session.close()


MODEL_MODULES = ("app.core.outbox", "app.accounts.models", "app.audit.models", "app.traces.models",
                 "app.issues.models", "app.annotations.models", "app.evals.models", "app.gate.models",
                 "app.dashboard.models")


def import_all_models() -> type[Base]:
    """Import every domain's models so `Base.metadata` is complete (alembic, tests)."""
    import importlib

    for module in MODEL_MODULES:
        importlib.import_module(module)
    return Base
