"""Evaluator activation and retirement, backfills, issue moves and merges leave audit events
with who did them, through the real API."""

from app.audit.models import AuditEvent
from app.evals import service as evals
from app.evals.models import EvalRun
from app.issues import service as issues
from tests.evals.test_service import labelled_project
from tests.factories import PASSWORD

RULE = {"format": "sextant.evaluator", "version": 1, "family": "rule", "combine": "any",
        "clauses": [{"field": "output", "kind": "regex", "pattern": r"refund within \d+ days"}]}


def _events(db, project) -> list[tuple]:
    db.expire_all()
    return [(e.actor, e.action, e.target, e.data) for e in db.query(AuditEvent).filter(
        AuditEvent.project_id == project.id, ~AuditEvent.action.startswith("project."),
        ~AuditEvent.action.startswith("api_key.")).order_by(AuditEvent.id)]


def test_evaluator_and_issue_actions_are_audited(client, factory, db):
    project, issue, *_ = labelled_project(db, factory, n_fail=4, n_pass=4)
    version = evals.create_manual(db, project.id, issue.id, "Refund window regex", RULE, actor_id=None)
    other = issues.create_issue(db, project.id, "Duplicate of the refund one", actor="test")
    admin = factory.user("admin")
    client.login(admin.email, PASSWORD)
    me, ev, q = f"user:{admin.id}", version.evaluator_id, f"project_id={project.id}"
    csrf = {"x-csrf-token": client.csrf_token()}

    assert client.post(f"/api/v1/evaluators/{ev}/versions/{version.id}/activate?{q}", headers=csrf).status_code == 200
    assert client.post(f"/api/v1/eval-runs?{q}", json={"evaluator_ids": [ev], "filter": {}}, headers=csrf).status_code == 202
    assert client.post(f"/api/v1/evaluators/{ev}/deactivate?{q}", headers=csrf).status_code == 200
    was = issue.state
    assert client.post(f"/api/v1/issues/{issue.id}/transitions?{q}", json={"to_state": "ignored", "reason": "known"}, headers=csrf).status_code == 200
    assert client.post(f"/api/v1/issues/{other.id}/merge?{q}", json={"target_id": issue.id}, headers=csrf).status_code == 200
    run_id = db.query(EvalRun).filter_by(project_id=project.id).one().id

    assert _events(db, project) == [
        (me, "evaluator.activated", f"evaluator:{ev}", {"version": 1, "weak": None}),
        (me, "backfill.started", f"eval_run:{run_id}", {"evaluator_ids": [ev], "filter": {}, "traces": 8}),
        (me, "evaluator.retired", f"evaluator:{ev}", {}),
        (me, "issue.transitioned", f"issue:{issue.id}", {"from": was, "to": "ignored", "reason": "known"}),
        (me, "issue.merged", f"issue:{other.id}", {"into": issue.id}),
    ]
