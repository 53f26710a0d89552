"""ASGI middleware: admission control, body size cap, CSRF with our error shape, security headers."""

import functools
import re
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_csrf import CSRFMiddleware

from app.core.errors import error_response
from app.core.security import api_key_token
from app.core.settings import database_settings, limits_settings

# Database connections kept out of the requests' reach: /healthz and the API-key
# touch (a background task) take one each, so they never wait behind requests.
RESERVED_CONNECTIONS = 2
ADMISSION_EXEMPT = ("/static/", "/healthz")
INGESTION_PATHS = ("/v1/traces", "/api/v1/traces")


def request_limit() -> int:
    """Requests served at once by one web process: as many as it has database connections
    for, so a request never waits for a connection while holding a thread or another one."""
    settings = database_settings()
    return max(1, settings.db_pool_size + settings.db_max_overflow - RESERVED_CONNECTIONS)


class AdmissionMiddleware:
    """Admit a bounded number of requests, before any database work; refuse the rest at once.

    Without it, a burst of requests deadlocked: a sync dependency checked out a pooled
    connection, then the request queued for a thread of the 40-thread pool to run its
    next dependency or the endpoint, while every one of those threads was blocked
    waiting for a connection — until the pool's time-out (5 s) failed 40 of them
    (tests/core/test_admission.py). Admitting no more requests than there are
    connections means a checkout never waits, so that cycle cannot form; the rest
    get 503 + Retry-After within milliseconds, which OTLP clients retry.
    Ingestion, the heavy kind, has its own smaller cap inside the overall one.
    Counters need no lock: the event loop runs this code on one thread.
    """

    def __init__(self, app: ASGIApp, max_requests: int | None = None, max_ingestion: int | None = None,
                 retry_after_seconds: int = 1):
        self.app = app
        self.max_requests = max_requests or request_limit()
        self.max_ingestion = min(max_ingestion or limits_settings().ingest_max_in_flight, self.max_requests)
        self.retry_after = str(retry_after_seconds)
        self.requests = 0
        self.ingestion = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMISSION_EXEMPT):
            await self.app(scope, receive, send)
            return
        ingestion = scope["method"] == "POST" and scope["path"] in INGESTION_PATHS
        if self.requests >= self.max_requests or (ingestion and self.ingestion >= self.max_ingestion):
            await self._refuse(scope, receive, send, ingestion)
            return
        self.requests += 1
        self.ingestion += ingestion
        admitted = True

        def release() -> None:
            nonlocal admitted
            if admitted:
                admitted = False
                self.requests -= 1
                self.ingestion -= ingestion

        async def send_then_release(message: Message) -> None:
            await send(message)
            # Answered: a client's next request may take the slot; background tasks (the
            # API-key touch) run after this and take one of the reserved connections.
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                release()

        try:
            await self.app(scope, receive, send_then_release)
        finally:
            release()

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, ingestion: bool) -> None:
        what = "ingestion requests" if ingestion else "requests"
        response = error_response(Request(scope), 503, "service_unavailable",
                                  f"The server is busy (too many {what} at once); retry shortly.",
                                  {"retry_after_seconds": int(self.retry_after)},
                                  headers={"Retry-After": self.retry_after})
        await response(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodySizeLimitMiddleware:
    """413 for bodies over `max_bytes`: at once when declared so, else while streaming.

    The streaming case raises an HTTPException from `receive`, which FastAPI passes
    through body parsing to the error handlers, so the answer keeps our error shape.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(Request(scope), 413, "payload_too_large",
                                      f"Request body exceeds the limit of {self.max_bytes} bytes.",
                                      {"max_bytes": self.max_bytes})
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        await self.app(scope, counting_receive, send)


class SextantCSRFMiddleware(CSRFMiddleware):
    """starlette-csrf (double-submit cookie), answering in Sextant's error shape.

    An unsafe request is checked when it carries our cookies, and a sign-in or
    set-up form always (login CSRF: the CSRF cookie handed out with the form page
    is its pre-session token, which a cross-site form cannot send). Exempt are only
    requests that a valid API key authenticates; `access.get_principal` never
    authenticates a request with an `Authorization` header by its cookie, so a
    cookie-echoing API client (like the OTLP exporter's HTTP session) needs no token.
    """

    def __init__(self, app: ASGIApp, *, api_key_is_valid: Callable[[str], bool],
                 pre_session_paths: frozenset[str], **options) -> None:
        super().__init__(app, **options)
        self.api_key_is_valid = api_key_is_valid
        self.pre_session_paths = pre_session_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if request.method not in self.safe_methods and await self._needs_token(request):
            cookie = request.cookies.get(self.cookie_name)
            submitted = await self._get_submitted_csrf_token(request)
            if not (cookie and submitted and self._csrf_tokens_match(cookie, submitted)):
                await self._get_error_response(request)(scope, receive, send)
                return
        await self.app(scope, receive, functools.partial(self.send, send=send, scope=scope))

    async def _needs_token(self, request: Request) -> bool:
        if request.url.path in self.pre_session_paths:
            return True
        if not self._has_sensitive_cookies(request.cookies):
            return False
        token = api_key_token(request.headers.get("authorization", ""))
        return token is None or not await run_in_threadpool(self.api_key_is_valid, token)

    def _get_error_response(self, request: Request):
        return error_response(request, 403, "csrf_failed",
                              "Missing or invalid CSRF token; reload the page and try again.")


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI boots itself with an inline script.
DOCS_POLICY = CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
DOCS_PATH = re.compile(r"^/docs")


HSTS = b"max-age=31536000; includeSubDomains"


class SecurityHeadersMiddleware:
    """CSP and friends on every answer; HSTS too when cookies are HTTPS-only (`hsts`),
    since then the site is served over HTTPS."""

    def __init__(self, app: ASGIApp, hsts: bool = False):
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if DOCS_PATH.match(scope["path"]) else CONTENT_SECURITY_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers.extend([
                    (b"content-security-policy", policy.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ])
                if self.hsts:
                    headers.append((b"strict-transport-security", HSTS))
            await send(message)

        await self.app(scope, receive, send_with_headers)
