"""Rules of the issues domain. Never commits.

Every state change goes through `transition`, which checks it against the one
state machine in `lifecycle` and records an event. Events whose kind is in
`ALERT_KINDS` (see `alert_kind`) are announced by `flows` after commit.
"""

import secrets
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.settings import issue_settings
from app.issues import lifecycle, repository, webhooks
from app.issues.lifecycle import Actor, State
from app.issues.models import Issue, IssueEvent, IssueSuggestion, Webhook

MAX_TITLE = 300
MAX_DESCRIPTION = 20_000
MAX_REASON = 5_000
ALERT_KINDS = ("issue.new", "issue.escalating", "issue.regressed", "issue.resolved")
_ALERT_STATES = {State.ESCALATING.value, State.REGRESSED.value, State.RESOLVED.value}


def alert_kind(event_kind: str, to_state: str | None) -> str | None:
    """The alert an issue event raises, if any: creation, or a move to escalating/regressed/resolved."""
    if event_kind == "created":
        return "issue.new"
    if event_kind == "transition" and to_state in _ALERT_STATES:
        return f"issue.{to_state}"
    return None


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
    session.flush()
    return issue


def find_or_create(session: Session, project_id: int, title: str, *, actor: str,
                   created_by_id: int | None = None) -> Issue:
    """The project's issue with this title (case-insensitive), created if new."""
    title = check_title(title)
    return (repository.issue_titled(session, project_id, title)
            or create_issue(session, project_id, title, actor=actor, created_by_id=created_by_id))


def failure_modes(session: Session, project_id: int, issue_ids: Sequence[int], new_titles: Sequence[str], *,
                  author: User | None) -> list[int]:
    """The ids of a judgement's failure modes: existing issues of the project, and issues found
    or created by title (the workbench's "new failure mode")."""
    ids = {issue.id for issue in get_issues(session, project_id, issue_ids)}
    actor = f"user:{author.id}" if author else "import"
    for title in new_titles:
        if title and title.strip():
            ids.add(find_or_create(session, project_id, title, actor=actor,
                                   created_by_id=author.id if author else None).id)
    return sorted(ids)


def get_issue(session: Session, project_id: int, issue_id: int, *, for_update: bool = False) -> Issue:
    issue = repository.get_issue(session, project_id, issue_id, for_update=for_update)
    if issue is None:
        raise NotFound("No such issue in this project.")
    return issue


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
    to_state = _state(to_state)
    if len(reason or "") > MAX_REASON:
        raise Unprocessable(f"A reason is limited to {MAX_REASON} characters.", details={"field": "reason"})
    if issue.merged_into_id is not None:
        raise Conflict("This issue was merged into another one; change that one instead.",
                       details={"merged_into_id": issue.merged_into_id, "allowed": []})
    try:
        lifecycle.check_transition(issue.state, to_state, actor_kind, reason or None)
    except lifecycle.IllegalTransition as error:
        raise Conflict(str(error), details={"allowed": [s.value for s in error.allowed]}) from None
    except lifecycle.ReasonRequired as error:
        raise Unprocessable(str(error), details={"field": "reason"}) from None
    session.add(IssueEvent(issue_id=issue.id, actor=actor, kind="transition", from_state=issue.state,
                           to_state=to_state.value, reason=(reason or "").strip()))
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


def _state(value: State | str) -> State:
    try:
        return State(value)
    except ValueError:
        names = ", ".join(s.value for s in State)
        raise Unprocessable(f"Unknown state {str(value)[:40]!r}; states are: {names}.",
                            details={"field": "to_state"}) from None


def update_issue(session: Session, issue: Issue, *, actor: str, title: str | None = None,
                 description: str | None = None) -> Issue:
    """Edit the title and/or the definition; the change is kept on the timeline."""
    changes = []
    if title is not None and check_title(title) != issue.title:
        _check_title_free(session, issue, check_title(title))
        changes.append(f"title: {issue.title} → {check_title(title)}")
        issue.title = check_title(title)
    if description is not None and description.strip() != issue.description:
        if len(description) > MAX_DESCRIPTION:
            raise Unprocessable(f"A description is limited to {MAX_DESCRIPTION} characters.",
                                details={"field": "description"})
        changes.append("description edited")
        issue.description = description.strip()
    if changes:
        issue.updated_at = utcnow()
        session.add(IssueEvent(issue_id=issue.id, actor=actor, kind="edited", reason="; ".join(changes)))
        session.flush()
    return issue


def _check_title_free(session: Session, issue: Issue, title: str) -> None:
    # Titles identify issues when labels are imported by title: keep them unique (case-insensitive).
    other = repository.issue_titled(session, issue.project_id, title)
    if other is not None and other.id != issue.id:
        raise Conflict(f"Issue #{other.id} already has this title; merge the two instead.",
                       details={"field": "title", "issue_id": other.id})


def merge(session: Session, source: Issue, target: Issue, *, actor: str) -> Issue:
    """Fold `source` into `target`: its annotations, adjudications, evaluators and history move;
    `source` keeps only a pointer (its page redirects)."""
    if source.id == target.id:
        raise Unprocessable("An issue cannot be merged into itself.", details={"field": "target_id"})
    for issue in (source, target):
        if issue.merged_into_id is not None:
            raise Conflict(f"Issue #{issue.id} was already merged into #{issue.merged_into_id}.",
                           details={"merged_into_id": issue.merged_into_id})
    repository.move_issue_links(session, source.id, target.id)
    seen = [t for t in (source.first_seen, target.first_seen) if t]
    last = [t for t in (source.last_seen, target.last_seen) if t]
    target.first_seen, target.last_seen = (min(seen) if seen else None), (max(last) if last else None)
    target.updated_at = source.updated_at = utcnow()
    source.merged_into_id = target.id
    session.add(IssueEvent(issue_id=target.id, actor=actor, kind="merged",
                           reason=f"merged #{source.id} “{source.title}” ({source.state}) into this issue"))
    session.add(IssueEvent(issue_id=source.id, actor=actor, kind="merged_into",
                           reason=f"merged into #{target.id} “{target.title}”"))
    session.flush()
    session.expire_all()
    return target


def record_linked(session: Session, issue: Issue, count: int, *, actor: str, how: str) -> None:
    session.add(IssueEvent(issue_id=issue.id, actor=actor, kind="linked",
                           reason=f"{count} failure{'s' if count != 1 else ''} linked ({how})"))
    session.flush()


def decide_suggestion(suggestion: IssueSuggestion, status: str, *, actor: str) -> None:
    if suggestion.status != "open":
        raise Conflict(f"This suggestion was already {suggestion.status}.")
    suggestion.status, suggestion.decided_at, suggestion.decided_by = status, utcnow(), actor


# ---------------------------------------------------------------------------
# Webhooks

MAX_URL = 2000


def check_webhook_url(url: str) -> str:
    """Only absolute http(s) URLs with a host: a webhook must not reach file:, gopher: and the like."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unprocessable("A webhook URL must be an http:// or https:// address with a host.",
                            details={"field": "url"})
    if not issue_settings().webhook_allow_private:
        try:
            webhooks.check_destination(url)
        except webhooks.RefusedAddress as error:
            raise Unprocessable(str(error), details={"field": "url"}) from None
    return url


def check_events(events: Sequence[str]) -> list[str]:
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in ALERT_KINDS]
    if unknown or not chosen:
        raise Unprocessable(f"Choose events among: {', '.join(ALERT_KINDS)}.", details={"field": "events"})
    return chosen


def create_webhook(session: Session, project_id: int, url: str, *, events: Sequence[str] = ALERT_KINDS,
                   secret: str = "", created_by_id: int | None = None) -> Webhook:
    secret = (secret or "").strip() or f"whsec_{secrets.token_urlsafe(24)}"
    if not 16 <= len(secret) <= 200:
        raise Unprocessable("A webhook secret must be 16–200 characters (leave it empty to generate one).",
                            details={"field": "secret"})
    webhook = Webhook(project_id=project_id, url=check_webhook_url(url), secret=secret,
                      events=check_events(events), created_by_id=created_by_id)
    session.add(webhook)
    session.flush()
    return webhook


def get_webhook(session: Session, project_id: int, webhook_id: int) -> Webhook:
    webhook = repository.get_webhook(session, project_id, webhook_id)
    if webhook is None:
        raise NotFound("No such webhook in this project.")
    return webhook
