"""LLM judges' answers kept in Redis, shared by every worker and kept across restarts.

The LLM client keys an answer by a hash of model, messages (the judge's prompt, so
its version, and the trace's content) and settings: a backfill or a re-run over the
same traces, on any worker, is answered from here and never pays twice. A trace
whose content changed, or a new prompt, is a new key. Redis down: no cache, the
call is made (a judge must not fail for want of a cache).
"""

from redis import RedisError

from app.core.redis import get_redis

KEEP_S = 30 * 24 * 3600
PREFIX = "sextant:llm-answer:"


class RedisAnswerCache:
    def get(self, key: str) -> str | None:
        try:
            value = get_redis().get(PREFIX + key)
        except RedisError:
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else value

    def set(self, key: str, value: str) -> None:
        try:
            get_redis().set(PREFIX + key, value, ex=KEEP_S)
        except RedisError:
            pass
