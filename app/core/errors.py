"""One error shape for the whole API, and readable messages in the UI.

API:  {"error": {"code", "message", "details"}} with the right status.
HTML: the same message in a page, or — for HTMX requests — a fragment swapped
into the page's flash area. No stack trace ever reaches a client.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.settings import limits_settings

log = logging.getLogger(__name__)


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else {}
        self.headers = headers or {}

    @property
    def field(self) -> str | None:
        """The form field the error is about, when it names one (forms mark it invalid)."""
        return self.details.get("field") if isinstance(self.details, dict) else None


class NotAuthenticated(AppError):
    status_code, code = 401, "not_authenticated"


class Forbidden(AppError):
    status_code, code = 403, "forbidden"


class NotFound(AppError):
    status_code, code = 404, "not_found"


class Conflict(AppError):
    status_code, code = 409, "conflict"


class PayloadTooLarge(AppError):
    status_code, code = 413, "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code, code = 415, "unsupported_media_type"


class Unprocessable(AppError):
    status_code, code = 422, "validation_error"


class TooManyRequests(AppError):
    status_code, code = 429, "too_many_requests"


class ServiceUnavailable(AppError):
    status_code, code = 503, "service_unavailable"


_STATUS_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "too_many_requests",
    503: "service_unavailable",
}


def is_api_request(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api/", "/v1/")) or path in ("/healthz", "/openapi.json")


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def error_response(request: Request, status: int, code: str, message: str,
                   details: Any = None, headers: dict[str, str] | None = None) -> Response:
    if is_api_request(request):
        return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)
    if status == 401:
        return RedirectResponse(_login_url(request), status_code=303)
    from app.core.templating import render_error

    return render_error(request, status, message, headers=headers)


def _login_url(request: Request) -> str:
    from urllib.parse import quote

    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def _validation_details(exc: RequestValidationError) -> list[dict]:
    # Echo where and what, never the (possibly huge or hostile) input itself.
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()]


# Postgres' "cannot serve now" states: connection exceptions, and shut down or starting up.
UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03")
DATABASE_RETRY_AFTER_S = 5


def database_unavailable(request: Request, exc: sa_exc.SQLAlchemyError) -> Response:
    """503 + Retry-After when the database cannot be reached (refused, shut down, restarting,
    or no pooled connection free in time): a client should retry, not drop what it sent."""
    if isinstance(exc, sa_exc.TimeoutError):
        return error_response(request, 503, "service_unavailable", "The server is busy; retry shortly.",
                              headers={"Retry-After": "1"})
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    unreachable = (isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))
                   and (sqlstate is None or sqlstate.startswith("08")))
    if not (unreachable or exc.connection_invalidated or sqlstate in UNAVAILABLE_SQLSTATES):
        log.exception("database error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(request, 500, "internal_error", "Internal error; it has been logged.")
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc.orig)
    return error_response(request, 503, "service_unavailable",
                          "The database is unavailable; retry shortly.",
                          headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})


def value_refused(request: Request, exc: sa_exc.DataError) -> Response:
    """Postgres (or the driver) refused a value: SQLSTATE class 22, a NUL character in text, a
    number out of range. Input that got past validation is still bad input: 422, not 500, and a
    warning in the log, since a field's own validation should say it better."""
    diag = getattr(exc.orig, "diag", None)
    reason = getattr(diag, "message_primary", None) or str(exc.orig).splitlines()[0]
    log.warning("value refused by the database on %s %s: %s", request.method, request.url.path, reason)
    return error_response(request, 422, "validation_error", f"A value cannot be stored: {reason}.")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> Response:
        return error_response(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = _validation_details(exc)
        first = details[0] if details else {}
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        message = f"Invalid request: {where}: {first.get('msg', '')}" if where else "Invalid request"
        return error_response(request, 422, "validation_error", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 413:
            limit = limits_settings().max_body_bytes
            message = f"Request body exceeds the limit of {limit} bytes."
        return error_response(request, exc.status_code, code, message, headers=getattr(exc, "headers", None))

    app.add_exception_handler(sa_exc.TimeoutError, database_unavailable)
    app.add_exception_handler(sa_exc.DBAPIError, database_unavailable)
    app.add_exception_handler(sa_exc.DataError, value_refused)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal_error", "Internal error; it has been logged.")
