"""`GET /healthz`: is the database and Redis reachable? 200 or 503.

It also says whether a background worker reported lately ("worker": "ok" or
"silent"); that does not change the status code: the web app serves without one.
"""

import asyncio

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.core import heartbeat
from app.core.db import get_engine
from app.core.errors import DATABASE_RETRY_AFTER_S
from app.core.redis import get_redis

router = APIRouter()
CHECK_TIMEOUT_S = 3.0


def _check_database() -> str:
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))
    return "ok"


def _check_redis() -> str:
    get_redis().ping()
    return "ok"


async def _status(check) -> str:
    try:
        return await asyncio.wait_for(run_in_threadpool(check), CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure is "down"; the reason helps an operator
        return f"error: {type(exc).__name__}"


@router.get("/healthz", tags=["health"])
async def healthz() -> JSONResponse:
    database, redis = await asyncio.gather(_status(_check_database), _status(_check_redis))
    healthy = database == "ok" and redis == "ok"
    worker = await run_in_threadpool(heartbeat.worker_running) if redis == "ok" else None
    return JSONResponse({"status": "ok" if healthy else "unavailable", "database": database, "redis": redis,
                         "worker": {True: "ok", False: "silent", None: "unknown"}[worker]},
                        status_code=200 if healthy else 503,
                        # A load balancer or a client polling this retries when the services may be back.
                        headers={} if healthy else {"Retry-After": str(DATABASE_RETRY_AFTER_S)})
