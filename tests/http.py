"""An HTTP client that behaves like a browser towards Sextant: cookies, CSRF header."""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from app.core.security import CSRF_COOKIE, CSRF_HEADER


class BrowserClient(TestClient):
    def __init__(self, app, **kwargs):
        super().__init__(app, base_url="http://testserver", follow_redirects=False, **kwargs)

    def csrf_token(self) -> str:
        if CSRF_COOKIE not in self.cookies:
            self.get("/healthz")  # any response hands out the CSRF cookie
        return self.cookies[CSRF_COOKIE]

    def form(self, url: str, data: dict | None = None, *, htmx: bool = True, **kwargs):
        """Post a form the way the UI does (HTMX, with the CSRF header)."""
        headers = {CSRF_HEADER: self.csrf_token(), **kwargs.pop("headers", {})}
        if htmx:
            headers["HX-Request"] = "true"
        return self.post(url, data=data or {}, headers=headers, **kwargs)

    def login(self, email: str, password: str):
        response = self.form("/login", {"email": email, "password": password})
        assert response.status_code == 204, response.text
        return response
