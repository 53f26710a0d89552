from sqlalchemy import create_engine, inspect

from app.core import migrate
from app.core.db import import_all_models
from tests import services


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_on_an_empty_database(database_url):
    name = f"sextant_migrations_{services.run_id()}"
    url = services.recreate_database(services.admin_database_url(), name)
    expected = set(import_all_models().metadata.tables)

    migrate.upgrade(url)
    assert table_names(url) == expected
    migrate.downgrade(url, "base")
    assert table_names(url) == set()
    migrate.upgrade(url)
    assert table_names(url) == expected
    services.drop_database(services.admin_database_url(), name)


def test_models_and_migrations_agree(database_url):
    """Autogenerate finds nothing to do: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), import_all_models().metadata)
    finally:
        engine.dispose()
    assert diff == []
