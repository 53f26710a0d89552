"""The servers the suite runs on: under `make test-embedded`, the ones `make run` starts."""

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from tests import services

pytestmark = pytest.mark.skipif(not services.embedded_forced(), reason="only under SEXTANT_TEST_EMBEDDED=1")


def test_the_database_is_the_embedded_postgresql_18(database_url):
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        host = conn.info.host
    assert version.split(".")[0] == "18"
    assert host.startswith("/"), "the embedded server listens on a unix socket"


def test_redis_is_the_embedded_redis_6_2(redis_url):
    assert redis_url.startswith("unix://")
    assert redis.Redis.from_url(redis_url).info("server")["redis_version"].startswith("6.2.")
