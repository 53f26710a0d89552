"""The daily cap on traces judged by LLM evaluators, per project (`SEXTANT_LLM_DAILY_TRACES`).

Counted in Redis per project and UTC day, shared by every worker: a batch takes
what is left of the day's allowance and leaves the rest of its traces unjudged
(no verdict row, so a backfill can judge them once the day turns). What was left
out is counted per evaluator, for its page to say so.
"""

from datetime import datetime, timezone

from redis import RedisError

from app.core.redis import get_redis
from app.core.settings import eval_settings

KEEP_S = 3 * 24 * 3600  # counters outlive their day long enough to be shown


def _day() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d")


def _used_key(project_id: int, day: str) -> str:
    return f"sextant:llm-budget:{project_id}:{day}"


def _skipped_key(evaluator_id: int, day: str) -> str:
    return f"sextant:llm-skipped:{evaluator_id}:{day}"


def grant(project_id: int, evaluator_id: int, wanted: int) -> int:
    """How many of `wanted` traces may be judged now; the rest is counted as skipped."""
    limit = eval_settings().llm_daily_traces
    if wanted <= 0 or limit == 0:
        return wanted
    redis, day = get_redis(), _day()
    key = _used_key(project_id, day)
    used = redis.incrby(key, wanted)  # atomic: concurrent batches never both take the last of it
    redis.expire(key, KEEP_S)
    granted = max(0, min(wanted, limit - (used - wanted)))
    if granted < wanted:
        redis.decrby(key, wanted - granted)  # give back what was not taken
        skipped = _skipped_key(evaluator_id, day)
        redis.incrby(skipped, wanted - granted)
        redis.expire(skipped, KEEP_S)
    return granted


def today(project_id: int, evaluator_id: int) -> dict | None:
    """{"used", "limit", "skipped"} for the current UTC day (limit 0: no cap); None if Redis cannot tell."""
    day = _day()
    try:
        used, skipped = get_redis().mget(_used_key(project_id, day), _skipped_key(evaluator_id, day))
    except RedisError:
        return None
    return {"used": int(used or 0), "limit": eval_settings().llm_daily_traces, "skipped": int(skipped or 0)}
