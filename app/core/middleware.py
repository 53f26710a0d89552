"""ASGI middleware: body size cap, CSRF with our error shape, security headers."""

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_csrf import CSRFMiddleware

from app.core.errors import error_response


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

    Requests carrying an `Authorization` header are API-key requests: they are
    never authenticated by cookie, and a cross-site form cannot add that header,
    so they are exempt — even when a client (like the OTLP exporter's HTTP
    session) sends back the cookies it was given.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(name == b"authorization" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

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


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

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
            await send(message)

        await self.app(scope, receive, send_with_headers)
