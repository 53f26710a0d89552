"""Which database errors mean "unavailable, retry" (503 + Retry-After) and which stay a 500.

The outage itself is exercised on a real stopped Postgres in test_database_outage.py; here
each kind of error psycopg raises is classified, with the exception classes psycopg
defines for those SQLSTATEs."""

import json

import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from starlette.requests import Request

from app.core.errors import database_unavailable


def api_request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/v1/traces", "headers": [], "query_string": b""})


def wrapped(error: psycopg.Error, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError.instance("SELECT 1", {}, error, psycopg.Error,
                                      connection_invalidated=invalidated)


@pytest.mark.parametrize("error, invalidated", [
    (psycopg.OperationalError("connection failed: Connection refused"), False),  # no SQLSTATE: no server
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
    (psycopg.errors.CrashShutdown("terminating connection because of crash of another server process"), True),
    (psycopg.errors.CannotConnectNow("the database system is starting up"), False),
    (psycopg.errors.ConnectionFailure("connection to server was lost"), False),
    (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"), True),
])
def test_unreachable_database_answers_503_with_retry_after(error, invalidated):
    response = database_unavailable(api_request(), wrapped(error, invalidated))
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert json.loads(response.body)["error"]["message"] == "The database is unavailable; retry shortly."


def test_no_pooled_connection_in_time_is_busy_retry_in_a_second():
    response = database_unavailable(api_request(), sa_exc.TimeoutError("QueuePool limit reached"))
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert json.loads(response.body)["error"]["message"] == "The server is busy; retry shortly."


@pytest.mark.parametrize("error", [
    psycopg.errors.LockNotAvailable("could not obtain lock"),
    psycopg.errors.UniqueViolation("duplicate key value"),
    psycopg.errors.UndefinedTable("relation does not exist"),
])
def test_other_database_errors_stay_a_logged_500(error, caplog):
    response = database_unavailable(api_request(), wrapped(error))
    assert response.status_code == 500 and "retry-after" not in response.headers
    assert "database error on POST /v1/traces" in caplog.text
