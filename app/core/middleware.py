"""ASGI middleware: CSRF with our error shape, security headers.

The body size cap is FastAPI's own `max_body_size` (see main.py)."""

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_csrf import CSRFMiddleware

from app.core.errors import error_response


class SextantCSRFMiddleware(CSRFMiddleware):
    """starlette-csrf (double-submit cookie), answering in Sextant's error shape."""

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
