"""Input the database cannot hold is refused at the edge (404/422), never a 500 from inside a
query: ids beyond BIGINT in any path, query or body, UTC offsets beyond what Postgres stores,
NUL characters in trace filters."""

import re

import pytest
from fastapi.routing import iter_route_contexts

from app.core.security import CSRF_HEADER
from app.core.types import MAX_ID
from tests.factories import PASSWORD

TOO_BIG = str(MAX_ID + 1)


def id_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route with an id in its path besides the project's."""
    return sorted((method, route.path) for route in iter_route_contexts(app.routes)
                  for method in (route.methods or ()) if method != "HEAD"
                  if set(re.findall(r"{(\w+)}", route.path)) - {"project_id"})


@pytest.fixture
def admin(client, factory):
    client.login(factory.user("admin").email, PASSWORD)
    return client


def test_every_path_id_beyond_64_bits_is_not_found_or_invalid(app, admin, project):
    routes = id_routes(app)
    assert len(routes) > 40  # the table is every such route, not a sample
    answers = {}
    for method, path in routes:
        url = re.sub(r"{(\w+)}", lambda m: str(project.id) if m.group(1) == "project_id" else TOO_BIG, path)
        response = admin.request(method, url, headers={CSRF_HEADER: admin.csrf_token()})
        answers[(method, path)] = response.status_code
    assert {route: status for route, status in answers.items() if status not in (404, 422)} == {}


@pytest.mark.parametrize("project_id", [TOO_BIG, "99999999999999999999999999", "-1", "0"])
def test_a_project_id_beyond_64_bits_names_no_project(client, key, project_id):
    response = client.get(f"/api/v1/traces?project_id={project_id}", headers=key)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_an_id_beyond_64_bits_in_a_body_is_invalid(client, key):
    response = client.post("/api/v1/annotations", headers=key,
                           json={"trace_id": int(TOO_BIG), "verdict": "fail", "annotator": "qa"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["body", "trace_id"]


@pytest.mark.parametrize("offset,status", [("-23:57", 422), ("+16:00", 422), ("-15:59", 200), ("+14:00", 200)])
def test_a_timestamp_offset_beyond_what_postgres_stores_is_invalid(client, key, offset, status):
    response = client.post("/api/v1/traces", headers=key, json={"traces": [
        {"id": f"t{offset}", "input": "q", "output": "a", "start_time": f"2026-01-01T00:00:00{offset}"}]})
    assert response.status_code == status, response.text
    if status == 422:
        assert "UTC offset must be between -15:59 and +15:59" in response.json()["error"]["message"]


@pytest.mark.parametrize("field", ["q", "name", "model", "tag", "release", "environment", "session_id", "user_id"])
def test_a_nul_character_in_a_trace_filter_is_invalid(admin, key, project, field):
    api = admin.get(f"/api/v1/traces?{field}=a%00b", headers=key)
    assert api.status_code == 422 and api.json()["error"]["code"] == "validation_error"
    page = admin.get(f"/projects/{project.id}/traces?{field}=a%00b")
    assert page.status_code == 422 and 'class="error-message"' in page.text


def test_a_nul_character_in_another_query_is_invalid_too(client, key):
    response = client.get("/api/v1/gate-runs?release=a%00b", headers=key)  # found by the fuzz
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


def test_text_the_database_refuses_is_a_422_naming_why(client, key):
    response = client.post("/api/v1/issues", headers=key, json={"title": "Refunds\u0000 invented"})
    assert response.status_code == 422
    assert "cannot contain NUL" in response.json()["error"]["message"]
