"""Merging two issues: links, adjudications, evaluators and history move; the merged one redirects."""

import pytest
from sqlalchemy import select

from app.annotations import service as annotations
from app.annotations.models import Adjudication, AnnotationIssue
from app.core.errors import Conflict, Unprocessable
from app.evals.models import Evaluator
from app.issues import flows, repository, service
from tests.factories import PASSWORD
from tests.issues.helpers import evaluator, label



@pytest.fixture
def two_issues(db, factory, project):
    source = service.create_issue(db, project.id, "Answers in French", actor="test")
    target = service.create_issue(db, project.id, "Wrong language", actor="test")
    return source, target


def test_merge_moves_links_adjudications_evaluators_and_history(db, factory, project, two_issues):
    source, target = two_issues
    admin = factory.user("admin")
    first, second, third = factory.traces(project, 3)
    label(db, project, first, "fail", "answered in French", [source.id])
    label(db, project, second, "fail", "French again", [source.id, target.id])
    label(db, project, third, "fail", "mixed languages", [source.id], annotator="import:a")
    label(db, project, third, "pass", annotator="import:b")
    annotations.adjudicate(db, project.id, third.id, "fail", [source.id], "it is French", admin)
    found_evaluator, _ = evaluator(db, project, source)
    service.transition(db, source, "resolved", actor="user:1", actor_kind="user", reason="fixed in 1.2")

    flows.merge(db, project.id, source.id, target.id, actor="user:7")

    assert source.merged_into_id == target.id
    assert db.scalars(select(AnnotationIssue.issue_id).distinct()).all() == [target.id]
    assert db.scalar(select(Adjudication.issue_ids).where(Adjudication.trace_id == third.id)) == [target.id]
    assert db.get(Evaluator, found_evaluator.id).issue_id == target.id
    labels = annotations.labels_for_traces(db, [first.id, second.id, third.id])
    assert all(label.issue_ids == {target.id} for label in labels.values())
    history = [(e.kind, e.to_state) for e in repository.events_of(db, target.id)]
    assert ("transition", "resolved") in history  # the source's history came along
    assert history.count(("created", "new")) == 2
    assert repository.events_of(db, target.id)[-1].kind == "merged"
    assert [e.kind for e in repository.events_of(db, source.id)] == ["merged_into"]
    assert target.first_seen == min(t.start_time for t in (first, second, third))
    assert target.state == "new"  # the target keeps its own state


def test_earlier_merges_follow_to_the_new_target(db, project, two_issues):
    source, target = two_issues
    older = service.create_issue(db, project.id, "Spanish replies", actor="test")
    service.merge(db, older, source, actor="test")
    service.merge(db, source, target, actor="test")
    db.refresh(older)
    assert older.merged_into_id == target.id


def test_merge_refusals(db, project, two_issues):
    source, target = two_issues
    with pytest.raises(Unprocessable):
        service.merge(db, source, source, actor="test")
    service.merge(db, source, target, actor="test")
    with pytest.raises(Conflict):
        service.merge(db, source, target, actor="test")
    with pytest.raises(Conflict):
        other = service.create_issue(db, project.id, "Too long", actor="test")
        service.merge(db, other, source, actor="test")


def test_the_merged_issue_page_redirects_and_the_api_merges(db, client, factory, project, two_issues):
    source, target = two_issues
    admin = factory.user("admin")
    db.commit()
    client.login(admin.email, PASSWORD)
    response = client.post(f"/api/v1/issues/{source.id}/merge?project_id={project.id}",
                           json={"target_id": target.id}, headers={"x-csrf-token": client.csrf_token()})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == target.id and response.json()["history"][-1]["kind"] == "merged"
    page = client.get(f"/projects/{project.id}/issues/{source.id}")
    assert page.status_code == 303 and page.headers["location"] == f"/projects/{project.id}/issues/{target.id}"
    assert client.get(f"/api/v1/issues/{source.id}?project_id={project.id}").json()["merged_into_id"] == target.id
    board = client.get(f"/projects/{project.id}/issues").text
    assert "Wrong language" in board and "Answers in French" not in board


def test_merge_form_on_the_issue_page(db, client, factory, project, two_issues):
    source, target = two_issues
    admin = factory.user("admin")
    client.login(admin.email, PASSWORD)
    page = client.get(f"/projects/{project.id}/issues/{source.id}").text
    assert f'<option value="{target.id}">' in page
    response = client.form(f"/projects/{project.id}/issues/{source.id}/merge", {"target_id": str(target.id)})
    assert response.status_code == 204
    assert response.headers["hx-redirect"] == f"/projects/{project.id}/issues/{target.id}"


def test_annotators_cannot_merge_through_the_api(db, client, factory, project, two_issues):
    source, target = two_issues
    key = factory.api_key(project)  # API keys act as annotators
    response = client.post(f"/api/v1/issues/{source.id}/merge", json={"target_id": target.id},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
