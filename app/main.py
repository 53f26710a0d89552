"""create_app(): the FastAPI application."""

import logging

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from app.accounts import api as accounts_api
from app.accounts import views as accounts_views
from app.accounts.access import CurrentUser, PrincipalDep, api_key_checker
from app.core import health
from app.core.errors import NotAuthenticated, install_error_handlers
from app.core.middleware import (AdmissionMiddleware, BodySizeLimitMiddleware, SecurityHeadersMiddleware,
                                 SextantCSRFMiddleware)
from app.core.security import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from app.core.settings import auth_settings, limits_settings, secret_key
from app.core.templating import STATIC_DIR
from app.annotations import api as annotations_api
from app.audit import views as audit_views
from app.annotations import views as annotations_views
from app.dashboard import views as dashboard_views
from app.evals import api as evals_api
from app.exports import api as exports_api
from app.evals import views as evals_views
from app.gate import api as gate_api
from app.gate import views as gate_views
from app.issues import alerts
from app.issues import api as issues_api
from app.issues import views as issues_views
from app.traces import api as traces_api
from app.traces import views as traces_views

API_ROUTERS = [accounts_api.router, traces_api.router, annotations_api.router, evals_api.router,
               issues_api.router, gate_api.router, exports_api.router]
VIEW_ROUTERS = [accounts_views.router, audit_views.router, traces_views.router, annotations_views.router,
                issues_views.router, evals_views.router, gate_views.router, dashboard_views.router]


def create_app() -> FastAPI:
    logging.basicConfig(level=logging.INFO)
    app = FastAPI(
        title="Sextant",
        summary="Evaluate LLM applications from their production traces.",
        version="0.1.0",
        docs_url=None, redoc_url=None, openapi_url=None,
    )
    install_error_handlers(app)
    alerts.install_hook()
    _add_middleware(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(health.router)
    app.include_router(traces_api.otlp_router)
    for router in API_ROUTERS:
        app.include_router(router, prefix="/api/v1")
    for router in VIEW_ROUTERS:
        app.include_router(router)
    _add_docs(app)
    return app


def _add_middleware(app: FastAPI) -> None:
    auth = auth_settings()
    # Starlette runs the last added first: security headers wrap everything.
    app.add_middleware(
        SextantCSRFMiddleware, secret=secret_key(),
        # Checked: requests a session cookie could sign in, and the sign-in and set-up
        # forms (login CSRF); exempt: requests a valid API key signs in.
        sensitive_cookies={SESSION_COOKIE}, api_key_is_valid=api_key_checker(),
        pre_session_paths=frozenset({"/login", "/setup"}),
        cookie_name=CSRF_COOKIE, header_name=CSRF_HEADER,
        cookie_secure=auth.cookie_secure, cookie_samesite="lax",
    )
    app.add_middleware(
        SessionMiddleware, secret_key=secret_key(), session_cookie=SESSION_COOKIE,
        max_age=auth.session_max_age, same_site="lax", https_only=auth.cookie_secure,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=limits_settings().max_body_bytes)
    # Before sessions, CSRF and any dependency: a refused request costs no database work.
    app.add_middleware(AdmissionMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts=auth.cookie_secure)


def _add_docs(app: FastAPI) -> None:
    @app.get("/openapi.json", include_in_schema=False)
    def openapi(principal: PrincipalDep) -> JSONResponse:
        if principal.user is None and principal.api_key is None:
            raise NotAuthenticated("Sign in or send an API key.")
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request, user: CurrentUser):
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="Sextant API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )
