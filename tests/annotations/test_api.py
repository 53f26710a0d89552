"""Annotation and queue routes over HTTP: imports, validation, access."""

import pytest

from tests.factories import PASSWORD




def test_importing_labels_by_external_id_creates_issues_and_labels(client, factory, project, key):
    [trace] = factory.traces(project, 1)
    response = client.post("/api/v1/annotations", headers=key, json={
        "trace_external_id": trace.external_id, "verdict": "fail", "feedback": "Answers in French",
        "issues": ["Wrong language"], "annotator": "legacy-tool"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["annotator"] == "import:legacy-tool" and len(body["issue_ids"]) == 1
    label = client.get(f"/api/v1/traces/{trace.id}/label", headers=key).json()
    assert label == {"trace_id": trace.id, "verdict": "fail", "issue_ids": body["issue_ids"],
                     "source": "unanimous", "reason": "unanimous fail (1 fail, 0 pass)"}


def test_fail_without_feedback_is_refused_with_the_field_named(client, factory, project, key):
    [trace] = factory.traces(project, 1)
    response = client.post("/api/v1/annotations", headers=key,
                           json={"trace_id": trace.id, "verdict": "fail", "feedback": " "})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"field": "feedback"}


@pytest.mark.parametrize("payload", [
    {"verdict": "pass"},
    {"trace_id": 1, "trace_external_id": "x", "verdict": "pass"},
    {"trace_id": 1, "verdict": "maybe"},
])
def test_malformed_annotations_get_422(client, key, payload):
    assert client.post("/api/v1/annotations", headers=key, json=payload).status_code == 422


def test_annotating_another_projects_trace_is_not_found(client, factory, key):
    [theirs] = factory.traces(factory.project(), 1)
    response = client.post("/api/v1/annotations", headers=key, json={"trace_id": theirs.id, "verdict": "pass"})
    assert response.status_code == 404


def test_unknown_issue_ids_are_not_found(client, factory, project, key):
    [trace] = factory.traces(project, 1)
    response = client.post("/api/v1/annotations", headers=key,
                           json={"trace_id": trace.id, "verdict": "fail", "feedback": "x", "issue_ids": [999999]})
    assert response.status_code == 404 and "999999" in response.json()["error"]["message"]


def test_viewers_cannot_annotate(client, factory, project):
    viewer = factory.user("viewer")
    [trace] = factory.traces(project, 1)
    client.login(viewer.email, PASSWORD)
    response = client.post(f"/api/v1/annotations?project_id={project.id}", json={"trace_id": trace.id, "verdict": "pass"},
                           headers={"x-csrf-token": client.csrf_token()})
    assert response.status_code == 403


def test_queues_are_created_filled_and_extended_over_the_api(client, factory, project):
    admin = factory.user("admin")
    traces = factory.traces(project, 6, environment="prod")
    client.login(admin.email, PASSWORD)
    csrf = {"x-csrf-token": client.csrf_token()}
    created = client.post(f"/api/v1/queues?project_id={project.id}", headers=csrf,
                          json={"name": "Prod sample", "filter": {"environment": "prod"}, "cap": 4})
    assert created.status_code == 201, created.text
    queue_id = created.json()["id"]
    added = client.post(f"/api/v1/queues/{queue_id}/items?project_id={project.id}", headers=csrf,
                        json={"trace_ids": [t.id for t in traces]})
    assert added.json() == {"added": 2}  # four were already in from the filter's cap
    both = client.post(f"/api/v1/queues/{queue_id}/items?project_id={project.id}", headers=csrf,
                       json={"trace_ids": [1], "matching": {}})
    assert both.status_code == 422
    bad_filter = client.post(f"/api/v1/queues?project_id={project.id}", headers=csrf,
                             json={"name": "Bad", "filter": {"status": "weird"}})
    assert bad_filter.status_code == 422
