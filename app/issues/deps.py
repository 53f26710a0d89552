"""Path dependencies of the issues routes: the project's issue or webhook named by the path."""

from typing import Annotated

from fastapi import Depends

from app.accounts.access import ProjectAccess
from app.core.deps import SessionDep
from app.core.types import Id
from app.issues import service
from app.issues.models import Issue, Webhook


def project_issue(issue_id: Id, session: SessionDep, access: ProjectAccess) -> Issue:
    return service.get_issue(session, access.project.id, issue_id)


def project_webhook(webhook_id: Id, session: SessionDep, access: ProjectAccess) -> Webhook:
    return service.get_webhook(session, access.project.id, webhook_id)


# Declare them after the route's role dependency, so a caller without the role hears 403 first.
IssueDep = Annotated[Issue, Depends(project_issue)]
WebhookDep = Annotated[Webhook, Depends(project_webhook)]
