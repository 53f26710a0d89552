"""The issues JSON API: create, list with figures and filters, read with history, edit."""

from datetime import datetime, timedelta, timezone


from app.issues import service
from tests.issues.helpers import evaluator, label, put_in_state, results, traces_at




def test_create_read_and_edit_an_issue(client, key):
    created = client.post("/api/v1/issues", headers=key,
                          json={"title": "  Invents a   refund policy ", "description": "Quotes a policy we lack."})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["title"] == "Invents a refund policy" and body["state"] == "new"
    assert body["allowed_transitions"] == ["ongoing", "resolved", "ignored"]
    assert body["url"].endswith(f"/projects/{body['project_id']}/issues/{body['id']}")
    assert [e["kind"] for e in body["history"]] == ["created"]

    edited = client.patch(f"/api/v1/issues/{body['id']}", headers=key, json={"description": "Any invented policy."})
    assert edited.status_code == 200
    assert edited.json()["description"] == "Any invented policy."
    assert edited.json()["history"][-1]["kind"] == "edited"
    read = client.get(f"/api/v1/issues/{body['id']}", headers=key).json()
    assert read["description"] == "Any invented policy."


def test_titles_stay_unique_per_project(db, client, key, project):
    service.create_issue(db, project.id, "Wrong language", actor="test")
    other = service.create_issue(db, project.id, "Too long", actor="test")
    db.commit()
    response = client.patch(f"/api/v1/issues/{other.id}", headers=key, json={"title": "wrong LANGUAGE"})
    assert response.status_code == 409 and response.json()["error"]["details"]["field"] == "title"


def test_list_reports_occurrences_kept_apart_and_filters(db, client, key, project):
    today = datetime.now(timezone.utc).replace(hour=0, minute=1, second=0, microsecond=0)
    refunds = put_in_state(db, service.create_issue(db, project.id, "Invents refunds", actor="test"), "ongoing")
    service.create_issue(db, project.id, "Wrong language", actor="test",
                         description="Replies in French")
    traces = traces_at(db, project, [today - timedelta(days=d) for d in (0, 0, 1, 3, 20)])
    for trace in traces[:3]:
        label(db, project, trace, "fail", "made-up refund", [refunds.id])
    label(db, project, traces[3], "fail", "tie", [refunds.id], annotator="import:a")
    label(db, project, traces[3], "pass", annotator="import:b")  # a tie: not a human occurrence
    _, version = evaluator(db, project, refunds, mcc=0.55, ci=(0.3, 0.7))
    results(db, version, traces[1:2] + traces[4:])  # one also labelled, one (20 days old) evaluator-only
    db.commit()

    listed = client.get("/api/v1/issues?sort=occurrences", headers=key).json()
    assert [i["title"] for i in listed] == ["Invents refunds", "Wrong language"]
    first = listed[0]
    assert (first["occurrences_human"], first["occurrences_detected"], first["affected_traces"]) == (3, 2, 4)
    assert len(first["trend"]) == 14 and sum(first["trend"]) == 3  # the 20-day-old one is outside
    assert first["trend"][-1] == 2
    [figure] = first["evaluators"]
    assert figure["mcc"] == 0.55 and figure["fit_for_gating"] is False

    def titles(query):
        return [i["title"] for i in client.get(f"/api/v1/issues?{query}", headers=key).json()]

    assert titles("state=new") == ["Wrong language"]
    assert titles("state=new&state=ongoing&sort=occurrences") == ["Invents refunds", "Wrong language"]
    assert titles("q=french") == ["Wrong language"]
    assert titles("has_evaluator=true") == ["Invents refunds"]
    assert titles("has_evaluator=false") == ["Wrong language"]
    assert client.get("/api/v1/issues?state=fixed", headers=key).status_code == 422


def test_unknown_issue_is_404_and_other_projects_are_invisible(db, client, factory, key):
    theirs = service.create_issue(db, factory.project().id, "Theirs", actor="test")
    db.commit()
    assert client.get(f"/api/v1/issues/{theirs.id}", headers=key).status_code == 404
    assert client.get("/api/v1/issues/999999", headers=key).status_code == 404
    assert client.get("/api/v1/issues", headers=key).json() == []
