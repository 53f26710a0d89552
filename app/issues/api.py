"""JSON routes of the issues domain, under /api/v1."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from app.accounts.access import ProjectAdmin, ProjectAnnotator, ProjectViewer
from app.core.db import utcnow
from app.core.deps import SessionDep
from app.core.types import Id
from app.issues import alerts, flows, lifecycle, repository, service, stats
from app.issues.deps import IssueDep
from app.issues.lifecycle import Actor, State
from app.issues.models import Issue
from app.issues.schemas import (EvaluatorFigureRead, IssueCreate, IssueDetail, IssueEventRead, IssueRead,
                                IssueUpdate, MergeCreate, SortKey, TransitionCreate)

router = APIRouter(tags=["issues"])


def issue_read(issue: Issue, figure: stats.IssueFigures) -> IssueRead:
    return IssueRead(
        id=issue.id, project_id=issue.project_id, title=issue.title, description=issue.description,
        state=issue.state, first_seen=issue.first_seen, last_seen=issue.last_seen, resolved_at=issue.resolved_at,
        merged_into_id=issue.merged_into_id, created_at=issue.created_at,
        url=alerts.issue_url(issue.project_id, issue.id),
        occurrences_human=figure.human, occurrences_detected=figure.detected, affected_traces=figure.traces,
        trend=figure.trend, allowed_transitions=[s.value for s in lifecycle.allowed_targets(issue.state, Actor.USER)]
        if issue.merged_into_id is None else [],
        evaluators=[EvaluatorFigureRead(**asdict(e), fit_for_gating=e.fit_for_gating) for e in figure.evaluators])


def _detail(session: Session, issue: Issue) -> IssueDetail:
    session.refresh(issue)
    figure = stats.figures(session, issue.project_id, [issue.id], utcnow())[issue.id]
    history = [IssueEventRead.model_validate(e) for e in repository.events_of(session, issue.id)]
    return IssueDetail(**issue_read(issue, figure).model_dump(), history=history)


@router.get("/issues", response_model=list[IssueRead])
def list_issues(ctx: ProjectViewer, session: SessionDep,
                state: Annotated[list[State] | None, Query()] = None, q: str = "",
                has_evaluator: bool | None = None, sort: SortKey = "last_seen") -> list[IssueRead]:
    """The project's issues (merged ones left out) with their figures."""
    issues = repository.board_issues(session, ctx.project.id, states=[s.value for s in state or []], text_=q,
                                     has_evaluator=has_evaluator)
    figures = stats.figures(session, ctx.project.id, [i.id for i in issues], utcnow())
    return [issue_read(i, figures[i.id]) for i in stats.sort_issues(issues, figures, sort)]


@router.post("/issues", response_model=IssueDetail, status_code=status.HTTP_201_CREATED)
def create_issue(body: IssueCreate, ctx: ProjectAnnotator, session: SessionDep) -> IssueDetail:
    issue = service.create_issue(session, ctx.project.id, body.title, actor=ctx.actor, description=body.description,
                                 created_by_id=ctx.user.id if ctx.user else None)
    return _detail(session, issue)


@router.get("/issues/{issue_id}", response_model=IssueDetail)
def get_issue(ctx: ProjectViewer, issue: IssueDep, session: SessionDep) -> IssueDetail:
    return _detail(session, issue)


@router.patch("/issues/{issue_id}", response_model=IssueDetail)
def update_issue(issue_id: Id, body: IssueUpdate, ctx: ProjectAnnotator, session: SessionDep) -> IssueDetail:
    issue = service.get_issue(session, ctx.project.id, issue_id, for_update=True)
    service.update_issue(session, issue, actor=ctx.actor, title=body.title, description=body.description)
    return _detail(session, issue)


@router.post("/issues/{issue_id}/transitions", response_model=IssueDetail)
def transition_issue(issue_id: Id, body: TransitionCreate, ctx: ProjectAnnotator,
                     session: SessionDep) -> IssueDetail:
    """Move the issue. 409 when the state machine forbids it (`details.allowed` lists the
    states it may go to), 422 when the move needs a reason."""
    issue = flows.transition(session, ctx.project.id, issue_id, body.to_state, actor=ctx.actor, reason=body.reason)
    return _detail(session, issue)


@router.post("/issues/{issue_id}/merge", response_model=IssueDetail)
def merge_issue(issue_id: Id, body: MergeCreate, ctx: ProjectAdmin, session: SessionDep) -> IssueDetail:
    """Merge this issue into `target_id`; returns the target."""
    target = flows.merge(session, ctx.project.id, issue_id, body.target_id, actor=ctx.actor)
    return _detail(session, target)
