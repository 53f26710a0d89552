"""The Redis client (login throttling, locks, health) and Celery's broker URL."""

from functools import lru_cache
from urllib.parse import parse_qs, urlparse

import redis

from app.core.settings import core_settings


def redis_url() -> str:
    url = core_settings().redis_url
    if not url:
        raise RuntimeError("SEXTANT_REDIS_URL is not set; run through `sextant` or set it")
    return url


def celery_broker_url(url: str) -> str:
    """Celery spells unix sockets `redis+socket:///path?virtual_host=N`."""
    parsed = urlparse(url)
    if parsed.scheme != "unix":
        return url
    db = parse_qs(parsed.query).get("db", ["0"])[0]
    return f"redis+socket://{parsed.path}?virtual_host={db}"


@lru_cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2)


def reset_redis() -> None:
    get_redis.cache_clear()
