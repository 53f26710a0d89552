"""The audit log is append-only, enforced by the database itself, not only by the code."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.audit import service as audit
from app.audit.models import AuditEvent


def _one_event(db, project) -> AuditEvent:
    audit.record(db, actor="user:1", action="test.done", target="trace:t1", project_id=project.id,
                 data={"why": "checked"})
    db.flush()
    return db.query(AuditEvent).filter_by(action="test.done").one()


def test_inserts_are_kept(db, project):
    event = _one_event(db, project)
    assert (event.actor, event.target, event.data) == ("user:1", "trace:t1", {"why": "checked"})


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor = 'user:2' WHERE id = :id",
    "UPDATE audit_event SET project_id = NULL WHERE id = :id",
    "DELETE FROM audit_event WHERE id = :id",
])
def test_the_application_connection_cannot_change_or_remove_an_event(db, project, statement):
    event = _one_event(db, project)
    savepoint = db.begin_nested()
    with pytest.raises(DBAPIError, match="audit_event is append-only") as refused:
        db.execute(text(statement), {"id": event.id})
    assert refused.value.orig.sqlstate == "42501"  # insufficient_privilege
    savepoint.rollback()
    assert db.execute(text("SELECT actor, project_id FROM audit_event WHERE id = :id"),
                      {"id": event.id}).one() == ("user:1", project.id)


def test_the_orm_cannot_edit_an_event_either(db, project):
    event = _one_event(db, project)
    savepoint = db.begin_nested()
    event.action = "test.undone"
    with pytest.raises(DBAPIError, match="append-only"):
        db.flush()
    savepoint.rollback()


def test_deleting_a_project_keeps_its_audit_trail(db, project):
    event = _one_event(db, project)
    db.execute(text("DELETE FROM project WHERE id = :id"), {"id": project.id})
    assert db.execute(text("SELECT project_id FROM audit_event WHERE id = :id"),
                      {"id": event.id}).scalar_one() == project.id
