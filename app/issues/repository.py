"""All SQL of the issues domain."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.issues.models import Issue, IssueEvent


def get_issue(session: Session, project_id: int, issue_id: int) -> Issue | None:
    return session.scalar(select(Issue).where(Issue.project_id == project_id, Issue.id == issue_id))


def issues_by_id(session: Session, project_id: int, issue_ids: Sequence[int]) -> list[Issue]:
    if not issue_ids:
        return []
    return list(session.scalars(select(Issue).where(Issue.project_id == project_id,
                                                    Issue.id.in_(list(issue_ids)))))


def issue_titled(session: Session, project_id: int, title: str) -> Issue | None:
    return session.scalar(select(Issue).where(
        Issue.project_id == project_id, func.lower(Issue.title) == title.strip().lower(),
        Issue.merged_into_id.is_(None)).order_by(Issue.id).limit(1))


def open_issues(session: Session, project_id: int) -> list[Issue]:
    """Issues annotators can pick as failure modes: not merged away, most recent first."""
    return list(session.scalars(select(Issue).where(
        Issue.project_id == project_id, Issue.merged_into_id.is_(None))
        .order_by(Issue.last_seen.desc().nulls_last(), Issue.id.desc())))


def events_of(session: Session, issue_id: int) -> list[IssueEvent]:
    return list(session.scalars(select(IssueEvent).where(IssueEvent.issue_id == issue_id)
                                .order_by(IssueEvent.at, IssueEvent.id)))
