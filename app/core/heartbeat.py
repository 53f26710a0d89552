"""Is a background worker running? Workers say so in Redis every few seconds.

Without a worker nothing fails loudly: traces are stored, but new traffic is not
evaluated, live queues are not sampled, webhooks wait and search lags. So each
worker process keeps a key alive with a short expiry, `/healthz` reports it, and
admins see a banner when no worker has reported for STALE_AFTER_S.
"""

import logging
import threading
import time

import redis

from app.core.redis import get_redis

log = logging.getLogger(__name__)

KEY = "sextant:worker:heartbeat"
INTERVAL_S = 15.0
STALE_AFTER_S = 90


def beat() -> None:
    get_redis().set(KEY, f"{time.time():.0f}", ex=STALE_AFTER_S)


def worker_running() -> bool | None:
    """True when a worker reported within STALE_AFTER_S; None when Redis cannot tell."""
    try:
        return bool(get_redis().exists(KEY))
    except redis.RedisError:
        return None


def start_beating() -> threading.Thread:
    """Beat now and then every INTERVAL_S, in a daemon thread of the worker's main process."""

    def loop() -> None:
        while True:
            try:
                beat()
            except redis.RedisError as error:  # Redis away for a moment: try again next time
                log.warning("worker heartbeat not written: %s", error)
            time.sleep(INTERVAL_S)

    thread = threading.Thread(target=loop, name="sextant-heartbeat", daemon=True)
    thread.start()
    return thread
