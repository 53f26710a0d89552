"""Every transition, allowed and forbidden, by a person and by the system: service and API."""

from itertools import product

import pytest

from app.core.errors import Conflict, Unprocessable
from app.issues import repository, service
from app.issues.lifecycle import TRANSITIONS, Actor, allowed_targets
from tests.factories import PASSWORD
from tests.issues.helpers import put_in_state

STATES = ["new", "ongoing", "escalating", "resolved", "regressed", "ignored"]
ALLOWED = {(t.from_state.value, t.to_state.value, t.actor.value): t.needs_reason for t in TRANSITIONS}
CASES = list(product(STATES, STATES, ["user", "system"]))



@pytest.mark.parametrize(("from_state", "to_state", "actor"), CASES)
def test_service_allows_exactly_the_table(db, project, from_state, to_state, actor):
    issue = put_in_state(db, service.create_issue(db, project.id, "Wrong language", actor="test"), from_state)
    if (from_state, to_state, actor) in ALLOWED:
        service.transition(db, issue, to_state, actor=actor, actor_kind=Actor(actor), reason="checked by hand")
        assert issue.state == to_state
        event = repository.events_of(db, issue.id)[-1]
        assert (event.kind, event.actor, event.from_state, event.to_state, event.reason) == (
            "transition", actor, from_state, to_state, "checked by hand")
        assert (issue.resolved_at is not None) if to_state == "resolved" else True
    else:
        with pytest.raises(Conflict) as refused:
            service.transition(db, issue, to_state, actor=actor, actor_kind=Actor(actor), reason="checked by hand")
        assert refused.value.details["allowed"] == [s.value for s in allowed_targets(from_state, actor)]
        assert issue.state == from_state
        assert [e.kind for e in repository.events_of(db, issue.id)] == ["created"]


@pytest.mark.parametrize(("from_state", "to_state", "actor"), [k for k, needs in ALLOWED.items() if needs])
def test_moves_that_need_a_reason_refuse_a_blank_one(db, project, from_state, to_state, actor):
    issue = put_in_state(db, service.create_issue(db, project.id, "Wrong language", actor="test"), from_state)
    with pytest.raises(Unprocessable) as refused:
        service.transition(db, issue, to_state, actor=actor, actor_kind=Actor(actor), reason="   ")
    assert refused.value.details == {"field": "reason"}
    assert issue.state == from_state


def test_a_merged_issue_cannot_move(db, project):
    source = service.create_issue(db, project.id, "Wrong language", actor="test")
    target = service.create_issue(db, project.id, "Language mix-up", actor="test")
    service.merge(db, source, target, actor="test")
    with pytest.raises(Conflict):
        service.transition(db, source, "ongoing", actor="test", actor_kind=Actor.USER)


# --- over HTTP -----------------------------------------------------------------------


@pytest.fixture
def annotator_client(client, factory):
    user = factory.user("annotator")
    client.login(user.email, PASSWORD)
    return client


def api_move(db, client, project, issue_id, to_state, reason=""):
    db.commit()  # a refused request rolls back to here, not past the set-up
    return client.post(f"/api/v1/issues/{issue_id}/transitions?project_id={project.id}",
                       json={"to_state": to_state, "reason": reason},
                       headers={"x-csrf-token": client.csrf_token()})


@pytest.mark.parametrize(("from_state", "to_state"), list(product(STATES, STATES)))
def test_api_moves_by_a_person_follow_the_table(db, annotator_client, project, from_state, to_state):
    issue = put_in_state(db, service.create_issue(db, project.id, "Wrong language", actor="test"), from_state)
    response = api_move(db, annotator_client, project, issue.id, to_state, reason="fixed in 2.4.1")
    if (from_state, to_state, "user") in ALLOWED:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["state"] == to_state
        assert body["history"][-1]["reason"] == "fixed in 2.4.1"
        assert body["history"][-1]["actor"].startswith("user:")
    else:
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "conflict"
        assert error["details"]["allowed"] == [s.value for s in allowed_targets(from_state, "user")]
        db.refresh(issue)
        assert issue.state == from_state


def test_api_resolve_without_a_note_is_422_naming_the_field(db, annotator_client, project):
    issue = service.create_issue(db, project.id, "Wrong language", actor="test")
    response = api_move(db, annotator_client, project, issue.id, "resolved")
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"field": "reason"}


def test_api_unknown_state_is_422(db, annotator_client, project):
    issue = service.create_issue(db, project.id, "Wrong language", actor="test")
    assert api_move(db, annotator_client, project, issue.id, "fixed").status_code == 422


def test_viewers_cannot_move_issues(db, client, factory, project):
    viewer = factory.user("viewer")
    issue = service.create_issue(db, project.id, "Wrong language", actor="test")
    client.login(viewer.email, PASSWORD)
    assert api_move(db, client, project, issue.id, "ongoing").status_code == 403
