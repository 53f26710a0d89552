"""Shared fixtures: real Postgres and Redis, migrated once per test session."""

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import services


def pytest_configure(config) -> None:
    wid = services.worker_id()
    os.environ.pop("SEXTANT_DATABASE_URL", None)
    os.environ.pop("SEXTANT_REDIS_URL", None)
    os.environ["SEXTANT_SECRET_KEY"] = "test-secret-key-not-for-production"
    os.environ["SEXTANT_DATA_DIR"] = tempfile.mkdtemp(prefix=f"sextant-test-{wid}-")
    os.environ["SEXTANT_TEST_WORKER"] = wid
    # Cheap password hashing: tests sign in hundreds of times.
    os.environ["SEXTANT_ARGON2_TIME_COST"] = "1"
    os.environ["SEXTANT_ARGON2_MEMORY_KIB"] = "1024"
    if services.embedded_forced() and not os.environ.get("SEXTANT_TEST_RUN_DIR"):
        # Made, and PostgreSQL started, before xdist starts its workers: they inherit the
        # directory and attach to the one server instead of racing to create it.
        config._sextant_run_dir = services.run_dir()
        services.admin_database_url()


# A test that uses one of these fixtures is marked for it, so `make test-fast` can leave out
# what starts processes (`-m "not live_server and not worker and not browser"`). A test that
# starts a server or worker itself says so with its own mark.
FIXTURE_MARKS = {"live_server": "live_server", "celery_worker": "worker", "browser": "browser"}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, mark in FIXTURE_MARKS.items():
            if fixture in used:
                item.add_marker(mark)


def pytest_unconfigure(config) -> None:
    services.stop_embedded()
    made = getattr(config, "_sextant_run_dir", None)
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _alert_hook() -> None:
    """Issue changes enqueue their alerts, as in the web app and the worker."""
    from app.issues import alerts

    alerts.install_hook()


@pytest.fixture(scope="session")
def database_url() -> str:
    """This worker's test database, freshly created and migrated to head."""
    from app.core import migrate
    from app.core.db import reset_engine
    from app.core.settings import clear_caches

    name = f"sextant_test_{services.run_id()}"
    url = services.recreate_database(services.admin_database_url(), name)
    os.environ["SEXTANT_DATABASE_URL"] = url
    clear_caches()
    reset_engine()
    migrate.upgrade(url)
    yield url
    reset_engine()
    services.drop_database(services.admin_database_url(), name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    from app.core.redis import reset_redis
    from app.core.settings import clear_caches

    url = services.redis_url_for_worker(services.redis_base_url())
    redis.Redis.from_url(url).flushdb()
    os.environ["SEXTANT_REDIS_URL"] = url
    clear_caches()
    reset_redis()
    return url


@pytest.fixture
def redis_client(redis_url):
    from app.core.redis import get_redis

    client = get_redis()
    yield client
    client.flushdb()


@pytest.fixture
def db(database_url, redis_url):
    """A session whose work is rolled back after the test (commits become savepoints)."""
    from sqlalchemy.orm import Session

    from app.core.db import get_engine

    connection = get_engine().connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()
    transaction.rollback()
    connection.close()


@pytest.fixture
def app(db, redis_client):
    """The real application, its request sessions joined to the test's transaction."""
    from sqlalchemy.orm import Session

    from app.accounts.access import api_key_checker
    from app.core.deps import get_session
    from app.core.middleware import SextantCSRFMiddleware
    from app.main import create_app

    application = create_app()

    def test_session():
        # Like the real unit of work: a session of its own, committed or rolled back and
        # then closed, so ORM rows a request loaded are detached afterwards (an error page
        # that touches them fails here as it does in production). It shares the test's
        # connection: commits release a savepoint inside the test's transaction.
        db.flush()
        session = Session(bind=db.connection(), join_transaction_mode="create_savepoint",
                          expire_on_commit=False)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            db.expire_all()  # the test's own rows reload what the request changed

    application.dependency_overrides[get_session] = test_session
    # The CSRF middleware's API-key check reads through the same session.
    for middleware in application.user_middleware:
        if middleware.cls is SextantCSRFMiddleware:
            middleware.kwargs["api_key_is_valid"] = api_key_checker(contextmanager(test_session))
    return application


@pytest.fixture
def client(app):
    from tests.http import BrowserClient

    with BrowserClient(app) as browser:
        yield browser


@pytest.fixture
def make_client(app):
    """More independent clients (e.g. two users at once)."""
    from tests.http import BrowserClient

    opened = []

    def factory() -> "BrowserClient":
        browser = BrowserClient(app)
        browser.__enter__()
        opened.append(browser)
        return browser

    yield factory
    for browser in opened:
        browser.__exit__(None, None, None)


@pytest.fixture
def factory(db):
    from tests.factories import Factory

    return Factory(db)


@pytest.fixture
def project(factory):
    return factory.project()


@pytest.fixture
def key(factory, project):
    """Headers carrying an API key of `project`."""
    return {"Authorization": f"Bearer {factory.api_key(project)}"}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def live_server(redis_url):
    """A real uvicorn server on its own database (data is committed, not rolled back)."""
    from app.core import migrate
    from tests.live import LiveServer, server_env, start_server, stop_process

    name = f"sextant_live_{services.run_id()}"
    url = services.recreate_database(services.admin_database_url(), name)
    migrate.upgrade(url)
    env = server_env(url, redis_url)
    process, base_url = start_server(env)
    yield LiveServer(url=base_url, database_url=url, env=env, process=process)
    stop_process(process)
    services.drop_database(services.admin_database_url(), name)


@pytest.fixture
def live(live_server, redis_client):
    """The live server with empty tables for this test."""
    live_server.truncate_all()
    yield live_server
    live_server.truncate_all()


@pytest.fixture
def celery_worker(live):
    """A real Celery worker on the live server's database and this test's Redis."""
    from tests.live import start_worker, stop_process

    process = start_worker(live.env)
    yield process
    stop_process(process)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("SEXTANT_TEST_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=executable, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live):
    context = browser.new_context(base_url=live.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
