"""Every route, tried anonymously, from another organisation, and with too small a role.

The table must list every route the app serves: a new route without a row fails
`test_the_table_covers_every_route`, so access rules cannot be forgotten.
"""

import pytest
from fastapi.routing import iter_route_contexts

from tests.factories import PASSWORD

PUBLIC = "public"          # no sign-in needed
USER = "user"              # any signed-in user
ORG_ADMIN = "org_admin"    # an admin of the organisation
# Project routes: the least role needed in the project's organisation.
VIEWER, ANNOTATOR, ADMIN = "viewer", "annotator", "admin"

ROUTES = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/setup"): PUBLIC,
    ("POST", "/setup"): PUBLIC,
    ("GET", "/"): PUBLIC,  # redirects by state
    ("POST", "/logout"): PUBLIC,
    ("GET", "/reset/{token}"): PUBLIC,  # the link is the credential
    ("POST", "/reset/{token}"): PUBLIC,
    ("GET", "/account"): USER,
    ("POST", "/account/password"): USER,
    ("GET", "/openapi.json"): USER,
    ("GET", "/docs"): USER,
    ("GET", "/api/v1/me"): USER,
    ("GET", "/api/v1/projects"): USER,
    ("POST", "/api/v1/projects"): ORG_ADMIN,
    ("GET", "/api/v1/members"): ORG_ADMIN,
    ("POST", "/api/v1/members"): ORG_ADMIN,
    ("GET", "/settings/projects"): USER,
    ("POST", "/settings/projects"): ORG_ADMIN,
    ("GET", "/settings/members"): ORG_ADMIN,
    ("POST", "/settings/members"): ORG_ADMIN,
    ("POST", "/settings/members/{user_id}/role"): ORG_ADMIN,
    ("POST", "/settings/members/{user_id}/active"): ORG_ADMIN,
    ("POST", "/settings/members/{user_id}/password-reset"): ORG_ADMIN,
    ("GET", "/api/v1/projects/{project_id}"): VIEWER,
    ("PATCH", "/api/v1/projects/{project_id}"): ADMIN,
    ("GET", "/api/v1/projects/{project_id}/api-keys"): ADMIN,
    ("POST", "/api/v1/projects/{project_id}/api-keys"): ADMIN,
    ("DELETE", "/api/v1/projects/{project_id}/api-keys/{key_id}"): ADMIN,
    ("GET", "/projects/{project_id}/settings"): ADMIN,
    ("POST", "/projects/{project_id}/settings/name"): ADMIN,
    ("POST", "/projects/{project_id}/settings/api-keys"): ADMIN,
    ("POST", "/projects/{project_id}/settings/api-keys/{key_id}/revoke"): ADMIN,
    ("GET", "/projects/{project_id}/audit"): ADMIN,
    ("GET", "/api/v1/exports/{kind}"): VIEWER,
    ("GET", "/projects/{project_id}/audit/export"): ADMIN,
    ("GET", "/projects/{project_id}/traces"): VIEWER,
    ("GET", "/projects/{project_id}/traces/{trace_id}"): VIEWER,
    ("GET", "/projects/{project_id}/traces/{trace_id}/spans/{span_id}"): VIEWER,
    ("GET", "/projects/{project_id}/sessions/{session_id:path}"): VIEWER,
    ("POST", "/v1/traces"): ANNOTATOR,
    ("POST", "/v1/metrics"): ANNOTATOR,
    ("POST", "/api/public/otel/v1/traces"): ANNOTATOR,  # the Langfuse SDK's export path
    **{(method, "/api/public/{rest:path}"): PUBLIC  # its other calls: a JSON 404
       for method in ("GET", "POST", "PUT", "PATCH", "DELETE")},
    ("POST", "/api/v1/traces"): ANNOTATOR,
    ("GET", "/api/v1/traces"): VIEWER,
    ("GET", "/api/v1/traces/{trace_id}"): VIEWER,
    ("GET", "/api/v1/traces/by-external-id/{external_id}"): VIEWER,
    ("GET", "/api/v1/traces/{trace_id}/label"): VIEWER,
    ("GET", "/api/v1/queues"): VIEWER,
    ("POST", "/api/v1/queues"): ADMIN,
    ("POST", "/api/v1/queues/{queue_id}/items"): ANNOTATOR,
    ("POST", "/api/v1/annotations"): ANNOTATOR,
    ("GET", "/api/v1/evaluators"): VIEWER,
    ("POST", "/api/v1/evaluators"): ADMIN,
    ("POST", "/api/v1/evaluators/generate"): ADMIN,
    ("GET", "/api/v1/evaluators/{evaluator_id}"): VIEWER,
    ("PATCH", "/api/v1/evaluators/{evaluator_id}"): ADMIN,
    ("POST", "/api/v1/evaluators/{evaluator_id}/versions/{version_id}/activate"): ADMIN,
    ("POST", "/api/v1/evaluators/{evaluator_id}/deactivate"): ADMIN,
    ("GET", "/api/v1/evaluators/{evaluator_id}/failure-rate"): VIEWER,
    ("POST", "/api/v1/eval-runs"): ADMIN,
    ("GET", "/api/v1/eval-runs/{run_id}"): VIEWER,
    ("POST", "/api/v1/eval-runs/{run_id}/cancel"): ADMIN,
    ("GET", "/api/v1/issues/{issue_id}/examples.jsonl"): VIEWER,
    ("POST", "/api/v1/evaluators/{evaluator_id}/versions"): ADMIN,
    ("GET", "/projects/{project_id}/queues"): VIEWER,
    ("GET", "/projects/{project_id}/queues/new"): ADMIN,
    ("POST", "/projects/{project_id}/queues"): ADMIN,
    ("GET", "/projects/{project_id}/queues/{queue_id}"): VIEWER,
    ("GET", "/projects/{project_id}/queues/{queue_id}/edit"): ADMIN,
    ("POST", "/projects/{project_id}/queues/{queue_id}/edit"): ADMIN,
    ("POST", "/projects/{project_id}/queues/{queue_id}/fill"): ADMIN,
    ("POST", "/projects/{project_id}/queues/{queue_id}/add"): ANNOTATOR,
    ("POST", "/projects/{project_id}/queues/{queue_id}/traces/{trace_id}/adjudicate"): ADMIN,
    ("GET", "/projects/{project_id}/queues/{queue_id}/annotate"): ANNOTATOR,
    ("GET", "/projects/{project_id}/queues/{queue_id}/items/{item_id}"): ANNOTATOR,
    ("POST", "/projects/{project_id}/queues/{queue_id}/items/{item_id}"): ANNOTATOR,
    ("POST", "/projects/{project_id}/queues/{queue_id}/items/{item_id}/skip"): ANNOTATOR,
    ("POST", "/projects/{project_id}/queues/{queue_id}/items/{item_id}/unskip"): ANNOTATOR,
    ("GET", "/projects/{project_id}/queues/{queue_id}/skipped"): ANNOTATOR,
    ("GET", "/projects/{project_id}/queues/{queue_id}/settled"): ADMIN,
    ("POST", "/projects/{project_id}/queues/{queue_id}/items/{item_id}/lock"): ANNOTATOR,
    ("GET", "/projects/{project_id}/queues/{queue_id}/previous"): ANNOTATOR,
    ("GET", "/projects/{project_id}/queues/{queue_id}/progress"): ANNOTATOR,
    ("GET", "/projects/{project_id}/queues/{queue_id}/agreement"): ADMIN,
    ("GET", "/projects/{project_id}/issues"): VIEWER,
    ("POST", "/projects/{project_id}/issues"): ANNOTATOR,
    ("GET", "/projects/{project_id}/issues/{issue_id}"): VIEWER,
    ("GET", "/projects/{project_id}/issues/{issue_id}/move"): ANNOTATOR,
    ("POST", "/projects/{project_id}/issues/{issue_id}/transition"): ANNOTATOR,
    ("POST", "/projects/{project_id}/issues/{issue_id}/edit"): ANNOTATOR,
    ("POST", "/projects/{project_id}/issues/{issue_id}/merge"): ADMIN,
    ("POST", "/projects/{project_id}/issues/suggestions/{suggestion_id}/accept"): ANNOTATOR,
    ("POST", "/projects/{project_id}/issues/suggestions/{suggestion_id}/dismiss"): ANNOTATOR,
    ("POST", "/projects/{project_id}/issues/suggestions/refresh"): ANNOTATOR,
    ("GET", "/projects/{project_id}/webhooks"): ADMIN,
    ("POST", "/projects/{project_id}/webhooks"): ADMIN,
    ("POST", "/projects/{project_id}/webhooks/{webhook_id}/delete"): ADMIN,
    ("POST", "/projects/{project_id}/webhooks/{webhook_id}/test"): ADMIN,
    ("GET", "/projects/{project_id}/webhooks/deliveries"): ADMIN,
    ("GET", "/projects/{project_id}/notifications"): VIEWER,
    ("GET", "/projects/{project_id}/notifications/badge"): VIEWER,
    ("GET", "/api/v1/issues"): VIEWER,
    ("POST", "/api/v1/issues"): ANNOTATOR,
    ("GET", "/api/v1/issues/{issue_id}"): VIEWER,
    ("PATCH", "/api/v1/issues/{issue_id}"): ANNOTATOR,
    ("POST", "/api/v1/issues/{issue_id}/transitions"): ANNOTATOR,
    ("POST", "/api/v1/issues/{issue_id}/merge"): ADMIN,
    ("GET", "/projects/{project_id}/evaluators"): VIEWER,
    ("POST", "/projects/{project_id}/evaluators"): ADMIN,
    ("GET", "/projects/{project_id}/evaluators/new"): ADMIN,
    ("POST", "/projects/{project_id}/evaluators/generate"): ADMIN,
    ("GET", "/projects/{project_id}/evaluators/{evaluator_id}"): VIEWER,
    ("GET", "/projects/{project_id}/evaluators/{evaluator_id}/versions"): VIEWER,
    ("POST", "/projects/{project_id}/evaluators/{evaluator_id}/versions/{version_id}/activate"): ADMIN,
    ("POST", "/projects/{project_id}/evaluators/{evaluator_id}/deactivate"): ADMIN,
    ("POST", "/projects/{project_id}/evaluators/{evaluator_id}/regenerate"): ADMIN,
    ("POST", "/projects/{project_id}/evaluators/{evaluator_id}/sampling"): ADMIN,
    ("POST", "/projects/{project_id}/evaluators/{evaluator_id}/backfills"): ADMIN,
    ("GET", "/projects/{project_id}/evaluators/{evaluator_id}/runs"): VIEWER,
    ("GET", "/projects/{project_id}/evaluators/{evaluator_id}/failures"): VIEWER,
    ("POST", "/projects/{project_id}/evaluators/{evaluator_id}/runs/{run_id}/cancel"): ADMIN,
    ("GET", "/projects/{project_id}/evaluators/{evaluator_id}/edit"): ADMIN,
    ("POST", "/projects/{project_id}/evaluators/{evaluator_id}/versions"): ADMIN,
    ("GET", "/projects/{project_id}/traces/{trace_id}/evaluations"): VIEWER,
    ("GET", "/projects/{project_id}/dashboard"): VIEWER,
    ("GET", "/dashboard"): USER,
    ("POST", "/api/v1/gate-runs"): ANNOTATOR,
    ("POST", "/api/v1/gate-runs/{run_id}/outputs"): ANNOTATOR,
    ("POST", "/api/v1/gate-runs/{run_id}/start"): ANNOTATOR,
    ("GET", "/api/v1/gate-runs/{run_id}"): VIEWER,
    ("GET", "/api/v1/gate-runs"): VIEWER,
    ("GET", "/api/v1/gate-settings"): VIEWER,
    ("PUT", "/api/v1/gate-settings"): ADMIN,
    ("GET", "/projects/{project_id}/gate-runs"): VIEWER,
    ("POST", "/projects/{project_id}/gate-settings"): ADMIN,
    ("GET", "/projects/{project_id}/gate-runs/{run_id}"): VIEWER,
}

ROLE_ORDER = [VIEWER, ANNOTATOR, ADMIN]
# Project routes that take the project as a query parameter (API keys imply it).
QUERY_PROJECT = {"/v1/traces", "/v1/metrics", "/api/public/otel/v1/traces", "/api/v1/traces", "/api/v1/traces/{trace_id}",
                 "/api/v1/traces/by-external-id/{external_id}", "/api/v1/traces/{trace_id}/label",
                 "/api/v1/queues", "/api/v1/queues/{queue_id}/items", "/api/v1/annotations",
                 "/api/v1/evaluators", "/api/v1/evaluators/generate", "/api/v1/evaluators/{evaluator_id}",
                 "/api/v1/evaluators/{evaluator_id}/versions/{version_id}/activate",
                 "/api/v1/evaluators/{evaluator_id}/deactivate", "/api/v1/evaluators/{evaluator_id}/failure-rate",
                 "/api/v1/evaluators/{evaluator_id}/versions",
                 "/api/v1/eval-runs", "/api/v1/eval-runs/{run_id}", "/api/v1/eval-runs/{run_id}/cancel",
                 "/api/v1/issues/{issue_id}/examples.jsonl",
                 "/api/v1/issues", "/api/v1/issues/{issue_id}", "/api/v1/issues/{issue_id}/transitions",
                 "/api/v1/issues/{issue_id}/merge", "/api/v1/gate-runs", "/api/v1/gate-runs/{run_id}/outputs",
                 "/api/v1/gate-runs/{run_id}/start", "/api/v1/gate-runs/{run_id}", "/api/v1/gate-settings",
                 "/api/v1/exports/{kind}"}


def served_routes(app) -> set[tuple[str, str]]:
    return {(method, route.path) for route in iter_route_contexts(app.routes)
            for method in (route.methods or ()) if method != "HEAD"}


def is_api(path: str) -> bool:
    return path.startswith(("/api/", "/v1/")) or path == "/openapi.json"


def with_project(path: str, project_id: int) -> str:
    if path in QUERY_PROJECT:
        return f"{path}?project_id={project_id}"
    return path.replace("{project_id}", str(project_id))


def concrete(path: str) -> str:
    url = path.replace("{kind}", "traces").replace("{key_id}", "1").replace("{trace_id}", "1").replace("{external_id}", "x")
    for name in ("queue_id", "evaluator_id", "version_id", "run_id", "user_id", "token"):
        url = url.replace("{" + name + "}", "1")
    return url


def request(client, method: str, path: str, headers: dict | None = None, csrf: bool = True):
    headers = {"HX-Request": "true", **(headers or {})} if method != "GET" else dict(headers or {})
    if csrf and method != "GET":
        headers["x-csrf-token"] = client.csrf_token()
    return client.request(method, concrete(path), headers=headers,
                          json={} if is_api(path) and method != "GET" else None)


def test_the_table_covers_every_route(app):
    assert served_routes(app) == set(ROUTES)
    assert QUERY_PROJECT <= {path for _, path in ROUTES}


def assert_not_signed_in(response, path: str) -> None:
    if is_api(path):
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "not_authenticated"
    elif response.request.method == "GET":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    else:
        assert response.status_code in (303, 401), response.text
        if response.status_code == 303:
            assert response.headers["location"].startswith("/login")


@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v != PUBLIC])
def test_anonymous_is_refused(client, factory, method, path):
    project = factory.project()
    assert_not_signed_in(request(client, method, with_project(path, project.id)), path)


@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v in ROLE_ORDER])
def test_projects_of_other_organisations_are_not_found(client, factory, method, path):
    user = factory.user("admin")
    stranger_project = factory.project(organization=factory.other_organization())
    client.login(user.email, PASSWORD)
    response = request(client, method, with_project(path, stranger_project.id))
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "path", "needed"),
                         [(*k, v) for k, v in ROUTES.items() if v in ROLE_ORDER and v != VIEWER])
def test_too_small_a_role_is_forbidden(client, factory, method, path, needed):
    too_small = ROLE_ORDER[ROLE_ORDER.index(needed) - 1]
    user = factory.user(too_small)
    project = factory.project()
    client.login(user.email, PASSWORD)
    response = request(client, method, with_project(path, project.id))
    assert response.status_code == 403
    if is_api(path):
        assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v == ORG_ADMIN])
def test_org_admin_routes_refuse_other_roles(client, factory, method, path):
    user = factory.user("annotator")
    client.login(user.email, PASSWORD)
    assert request(client, method, path).status_code == 403


@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v in ROLE_ORDER])
def test_enough_role_gets_past_the_access_check(client, factory, method, path):
    user = factory.user(ROUTES[(method, path)])
    project = factory.project()
    client.login(user.email, PASSWORD)
    response = request(client, method, with_project(path, project.id))
    # Past the gate: whatever the route then says, it is not an access refusal.
    assert response.status_code not in (401, 403), response.text


UNSAFE = [k for k in ROUTES if k[0] != "GET"]
NOT_AN_API_KEY = ["Basic dXNlcjpwYXNzd29yZA==", "Bearer", "Bearer sx_not-a-key", "sx_bare"]


@pytest.mark.parametrize(("method", "path"), UNSAFE)
def test_an_authorization_header_skips_neither_csrf_nor_falls_back_to_the_cookie(client, factory, method, path):
    """A signed-in browser's cookie plus any Authorization header that is not a valid API key:
    refused without the CSRF token, and with it the cookie still does not sign the request in."""
    client.login(factory.user("admin").email, PASSWORD)
    url = with_project(path, factory.project().id)
    for authorization in NOT_AN_API_KEY:
        forged = request(client, method, url, headers={"Authorization": authorization}, csrf=False)
        assert forged.status_code == 403, (authorization, forged.text)
        assert "CSRF" in forged.text
        if ROUTES[(method, path)] != PUBLIC:
            with_token = request(client, method, url, headers={"Authorization": authorization})
            assert_not_signed_in(with_token, path)
