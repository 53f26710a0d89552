"""Suggestions from unassigned failures: computed and stored idempotently, shown on the board,
accepted (failures linked to an issue, or a new issue) or dismissed."""

import pytest
from sqlalchemy import select

from app.annotations import service as annotations
from app.core.jobs import pending_jobs
from app import loop
from app.issues import repository, service, suggestions
from app.issues.models import IssueSuggestion
from tests.factories import PASSWORD
from tests.issues.helpers import label
from tests.issues.test_clustering import LANGUAGE, MADE_UP_REFUNDS, WEATHER_TIMEOUTS, WRONG_LANGUAGE



@pytest.fixture
def setup(db, factory, project):
    """The language issue exists; three language, three weather-timeout failures name no issue."""
    language = service.create_issue(db, project.id, LANGUAGE.title, actor="test", description=LANGUAGE.description)
    refunds = service.create_issue(db, project.id, "Invents a refund policy", actor="test")
    traces = {}
    for failure in WRONG_LANGUAGE + WEATHER_TIMEOUTS + MADE_UP_REFUNDS[:1]:
        [trace] = factory.traces(project, 1)
        trace.output = failure.output
        traces[failure.id] = trace
    db.flush()
    for failure in WRONG_LANGUAGE + WEATHER_TIMEOUTS:
        label(db, project, traces[failure.id], "fail", failure.feedback)
    # Already assigned, and passing traces: not suggestions.
    label(db, project, traces["r1"], "fail", MADE_UP_REFUNDS[0].feedback, [refunds.id])
    for trace in factory.traces(project, 2):
        label(db, project, trace, "pass")
    return language, refunds, traces


def by_kind(db, project):
    return {s.kind: s for s in repository.open_suggestions(db, project.id)}


def test_failures_are_matched_to_issues_or_proposed_as_new_clusters(db, project, setup):
    language, _, traces = setup
    assert suggestions.refresh_suggestions(db, project.id) == 2
    found = by_kind(db, project)
    assert found["match"].issue_id == language.id
    assert found["match"].trace_ids == sorted(traces[f.id].id for f in WRONG_LANGUAGE)
    assert found["new"].trace_ids == sorted(traces[f.id].id for f in WEATHER_TIMEOUTS)
    assert "weather" in found["new"].label


def test_recomputing_is_idempotent(db, project, setup):
    suggestions.refresh_suggestions(db, project.id)
    before = {(s.id, s.fingerprint) for s in repository.open_suggestions(db, project.id)}
    assert suggestions.refresh_suggestions(db, project.id) is None  # nothing changed: skipped
    assert suggestions.refresh_suggestions(db, project.id, force=True) == 2
    assert {(s.id, s.fingerprint) for s in repository.open_suggestions(db, project.id)} == before


def test_the_board_offers_them(db, client, factory, project, setup):
    language, _, _ = setup
    suggestions.refresh_suggestions(db, project.id)
    user = factory.user("annotator")
    client.login(user.email, PASSWORD)
    html = client.get(f"/projects/{project.id}/issues").text
    assert "3 failures</strong> look like" in html and language.title in html
    assert "New cluster: <strong>" in html


def test_accepting_a_match_links_the_failures_to_the_issue(db, client, factory, project, setup):
    language, _, traces = setup
    suggestions.refresh_suggestions(db, project.id)
    match = by_kind(db, project)["match"]
    user = factory.user("annotator")
    client.login(user.email, PASSWORD)
    response = client.form(f"/projects/{project.id}/issues/suggestions/{match.id}/accept")
    assert response.status_code == 204
    assert response.headers["hx-redirect"] == f"/projects/{project.id}/issues/{language.id}"
    labels = annotations.labels_for_traces(db, match.trace_ids)
    assert all(label.issue_ids == {language.id} for label in labels.values())
    db.refresh(match)
    assert match.status == "accepted" and match.decided_by == f"user:{user.id}"
    assert language.last_seen is not None
    assert repository.events_of(db, language.id)[-1].reason == "3 failures linked (suggestion accepted)"
    # Recomputing no longer proposes them.
    suggestions.refresh_suggestions(db, project.id)
    assert set(by_kind(db, project)) == {"new"}
    db.commit()
    again = client.form(f"/projects/{project.id}/issues/suggestions/{match.id}/accept")
    assert again.status_code == 409


def test_accepting_a_new_cluster_creates_the_issue(db, client, factory, project, setup):
    _, _, traces = setup
    suggestions.refresh_suggestions(db, project.id)
    new = by_kind(db, project)["new"]
    user = factory.user("annotator")
    client.login(user.email, PASSWORD)
    response = client.form(f"/projects/{project.id}/issues/suggestions/{new.id}/accept",
                           {"title": "Weather tool <timeouts>"})
    issue = repository.issue_titled(db, project.id, "Weather tool <timeouts>")
    assert response.headers["hx-redirect"] == f"/projects/{project.id}/issues/{issue.id}"
    labels = annotations.labels_for_traces(db, [traces[f.id].id for f in WEATHER_TIMEOUTS])
    assert all(label.issue_ids == {issue.id} for label in labels.values())


def test_a_dismissed_suggestion_is_not_offered_again(db, client, factory, project, setup):
    suggestions.refresh_suggestions(db, project.id)
    new = by_kind(db, project)["new"]
    user = factory.user("annotator")
    client.login(user.email, PASSWORD)
    response = client.form(f"/projects/{project.id}/issues/suggestions/{new.id}/dismiss")
    assert response.status_code == 200 and response.text == ""
    assert suggestions.refresh_suggestions(db, project.id, force=True) == 1
    assert set(by_kind(db, project)) == {"match"}
    [stored] = db.scalars(select(IssueSuggestion).where(IssueSuggestion.kind == "new")).all()
    assert stored.status == "dismissed"


def test_suggestions_of_other_projects_are_not_found(db, client, factory, project, setup):
    suggestions.refresh_suggestions(db, project.id)
    match = by_kind(db, project)["match"]
    stranger = factory.project()
    user = factory.user("admin")
    db.commit()
    client.login(user.email, PASSWORD)
    assert client.form(f"/projects/{stranger.id}/issues/suggestions/{match.id}/accept").status_code == 404


def test_accepting_asks_for_a_recomputation(db, project, setup):
    suggestions.refresh_suggestions(db, project.id)
    loop.accept_suggestion(db, project.id, by_kind(db, project)["match"].id, actor="user:1")
    assert ("issues.refresh_suggestions", (project.id, False), None, suggestions.SUGGEST_COALESCE_S) in pending_jobs(db)
