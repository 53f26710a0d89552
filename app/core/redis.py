"""The Redis client (login throttling, locks, health) and Celery's broker URL."""

from functools import lru_cache
from urllib.parse import parse_qs, urlparse

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.core.settings import core_settings

# Redis serves the request path (job coalescing after an ingestion commit, /healthz, the
# worker banner) with sub-millisecond commands: a Redis that does not answer within a
# second is down or hung, and a request must not wait on it longer than that. One try.
TIMEOUT_S = 1.0


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
    return redis.Redis.from_url(redis_url(), socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                                retry=Retry(NoBackoff(), 0))


def reset_redis() -> None:
    get_redis.cache_clear()
