"""Suggestions from unassigned failures: the worker clusters failures nobody linked to an
issue, people accept (link them) or dismiss each proposal. Accepting changes labels: the
route calls `app.loop.accept_suggestion`, which follows up."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.annotations import service as annotations
from app.core.errors import NotFound
from app.core.settings import issue_settings
from app.issues import repository, service, tasks
from app.issues.models import Issue, IssueSuggestion

if TYPE_CHECKING:
    from app.issues import clustering

# Clustering needs numpy, scipy and scikit-learn: it is imported where used (in the worker).

SUGGEST_COALESCE_S = 5.0


def request_suggestions(session: Session, project_id: int, *, force: bool = False) -> None:
    tasks.refresh_suggestions.enqueue(session, project_id, force, coalesce_seconds=SUGGEST_COALESCE_S)


def refresh_suggestions(session: Session, project_id: int, *, force: bool = False) -> int | None:
    """Cluster the project's unassigned failures and store the proposals (idempotent).

    Skips (None) when another run holds the project, or when nothing it reads changed
    since the last run (unless `force`). Open proposals not found again are dropped; a
    proposal much like a dismissed one (same kind and issue, half its failures or more
    already dismissed) is not offered again.
    """
    if not repository.try_project_lock(session, "issues.suggestions", project_id):
        return None
    failures = _unassigned_failures(session, project_id)
    issues = repository.open_issues(session, project_id)
    inputs = _inputs_fingerprint(session, failures, issues)
    run = repository.suggestion_run(session, project_id)
    if run is not None and run.inputs == inputs and not force:
        return None
    from app.issues import clustering

    found = clustering.suggest(failures, [clustering.IssueDef(i.id, i.title, i.description) for i in issues])
    dismissed = repository.dismissed_suggestions(session, project_id)
    rows = [_suggestion_row(s) for s in found if not _like_dismissed(s, dismissed)]
    repository.upsert_suggestions(session, project_id, rows)
    repository.drop_open_suggestions_except(session, project_id, [row["fingerprint"] for row in rows])
    repository.save_suggestion_run(session, project_id, inputs, len(failures))
    return len(rows)


def _unassigned_trace_ids(session: Session, trace_ids: list[int] | None, project_id: int) -> list[int]:
    labels = (annotations.project_labels(session, project_id) if trace_ids is None
              else annotations.labels_for_traces(session, trace_ids))
    return sorted(t for t, label in labels.items() if label.verdict == "fail" and not label.issue_ids)


def _unassigned_failures(session: Session, project_id: int) -> list[clustering.Failure]:
    from app.issues import clustering

    # The newest failures only: clustering costs O(n^2) memory.
    newest = _unassigned_trace_ids(session, None, project_id)[-issue_settings().issue_suggestions_max_failures:]
    return [clustering.Failure(trace_id, feedback, output)
            for trace_id, feedback, output in repository.failure_texts(session, newest)]


def _inputs_fingerprint(session: Session, failures: list[clustering.Failure], issues: list[Issue]) -> str:
    ids = [f.id for f in failures]
    marker = repository.failure_inputs_marker(session, ids)
    data = [ids, marker.isoformat() if marker else None, [(i.id, i.title, i.description) for i in issues]]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def _fingerprint(suggestion: clustering.Suggestion) -> str:
    members = ",".join(str(m) for m in sorted(suggestion.member_ids))
    return hashlib.sha256(f"{suggestion.kind}:{suggestion.issue_id}:{members}".encode()).hexdigest()


def _suggestion_row(suggestion: clustering.Suggestion) -> dict:
    return {"kind": suggestion.kind, "issue_id": suggestion.issue_id, "label": suggestion.label[:500],
            "trace_ids": sorted(int(m) for m in suggestion.member_ids), "score": suggestion.score,
            "fingerprint": _fingerprint(suggestion)}


def _like_dismissed(suggestion: clustering.Suggestion, dismissed: list[IssueSuggestion]) -> bool:
    members = set(suggestion.member_ids)
    for old in dismissed:
        if old.kind == suggestion.kind and old.issue_id == suggestion.issue_id:
            if len(members & set(old.trace_ids)) * 2 >= len(members):
                return True
    return False


def accept_suggestion(session: Session, project_id: int, suggestion_id: int, *, actor: str,
                      title: str | None = None) -> tuple[Issue, list[int]]:
    """Link the proposal's failures to its issue (or to a new issue named `title`); returns the
    issue and the traces linked (their labels changed: `app.loop.accept_suggestion` follows up)."""
    suggestion = _suggestion(session, project_id, suggestion_id)
    service.decide_suggestion(suggestion, "accepted", actor=actor)
    if suggestion.kind == "match":
        issue = service.get_issue(session, project_id, suggestion.issue_id, for_update=True)
    else:
        issue = service.find_or_create(session, project_id, title or suggestion.label, actor=actor)
    # Someone may have labelled some of them meanwhile: link only those still unassigned.
    still = _unassigned_trace_ids(session, list(suggestion.trace_ids), project_id)
    repository.link_failures(session, project_id, issue.id, still)
    service.record_linked(session, issue, len(still), actor=actor, how="suggestion accepted")
    return issue, still


def dismiss_suggestion(session: Session, project_id: int, suggestion_id: int, *, actor: str) -> None:
    service.decide_suggestion(_suggestion(session, project_id, suggestion_id), "dismissed", actor=actor)


def _suggestion(session: Session, project_id: int, suggestion_id: int) -> IssueSuggestion:
    suggestion = repository.get_suggestion(session, project_id, suggestion_id)
    if suggestion is None:
        raise NotFound("No such suggestion in this project.")
    return suggestion
