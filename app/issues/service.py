"""Rules of the issues domain. Never commits.

Every state change goes through `transition`, which checks it against the one
state machine in `lifecycle` and records an event.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, Unprocessable
from app.issues import lifecycle, repository
from app.issues.lifecycle import Actor, State
from app.issues.models import Issue, IssueEvent

MAX_TITLE = 300


def check_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title or len(title) > MAX_TITLE:
        raise Unprocessable(f"An issue title must be 1–{MAX_TITLE} characters.", details={"field": "title"})
    return title


def create_issue(session: Session, project_id: int, title: str, *, actor: str, description: str = "",
                 created_by_id: int | None = None) -> Issue:
    issue = Issue(project_id=project_id, title=check_title(title), description=(description or "").strip(),
                  state=State.NEW.value, created_by_id=created_by_id)
    session.add(issue)
    session.flush()
    session.add(IssueEvent(issue_id=issue.id, actor=actor, kind="created", to_state=State.NEW.value,
                           reason="created"))
    return issue


def find_or_create(session: Session, project_id: int, title: str, *, actor: str,
                   created_by_id: int | None = None) -> Issue:
    """The project's issue with this title (case-insensitive), created if new."""
    title = check_title(title)
    return (repository.issue_titled(session, project_id, title)
            or create_issue(session, project_id, title, actor=actor, created_by_id=created_by_id))


def get_issues(session: Session, project_id: int, issue_ids) -> list[Issue]:
    ids = sorted({int(i) for i in issue_ids})
    found = repository.issues_by_id(session, project_id, ids)
    if len(found) != len(ids):
        missing = sorted(set(ids) - {i.id for i in found})
        raise NotFound(f"No such issue in this project: {', '.join(map(str, missing))}.")
    return found


def transition(session: Session, issue: Issue, to_state: State | str, *, actor: str, actor_kind: Actor,
               reason: str = "") -> Issue:
    """Move `issue` to `to_state` if the state machine allows it; record the event."""
    to_state = State(to_state)
    try:
        lifecycle.check_transition(issue.state, to_state, actor_kind, reason or None)
    except lifecycle.IllegalTransition as error:
        raise Conflict(str(error), details={"allowed": [s.value for s in error.allowed]}) from None
    except lifecycle.ReasonRequired as error:
        raise Unprocessable(str(error), details={"field": "reason"}) from None
    session.add(IssueEvent(issue_id=issue.id, actor=actor, from_state=issue.state, to_state=to_state.value,
                           reason=reason or ""))
    issue.state = to_state.value
    issue.resolved_at = utcnow() if to_state is State.RESOLVED else issue.resolved_at
    issue.updated_at = utcnow()
    session.flush()
    return issue


def record_occurrence(session: Session, issue: Issue, occurred_at: datetime, *, source: str) -> None:
    """A new failure of this kind was seen: update first/last seen; a resolved issue regresses."""
    issue.first_seen = min(issue.first_seen or occurred_at, occurred_at)
    issue.last_seen = max(issue.last_seen or occurred_at, occurred_at)
    target = lifecycle.state_after_occurrence(issue.state, issue.resolved_at, occurred_at)
    if target.value != issue.state:
        transition(session, issue, target, actor="system", actor_kind=Actor.SYSTEM,
                   reason=f"new occurrence after resolution ({source})")
