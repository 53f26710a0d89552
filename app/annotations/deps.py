"""Path dependencies of the annotations routes: the project's queue named by the path."""

from typing import Annotated

from fastapi import Depends

from app.accounts.access import ProjectAccess
from app.annotations import service
from app.annotations.models import AnnotationQueue
from app.core.deps import SessionDep
from app.core.types import Id


def project_queue(queue_id: Id, session: SessionDep, access: ProjectAccess) -> AnnotationQueue:
    return service.get_queue(session, access.project.id, queue_id)


# Declare it after the route's role dependency, so a caller without the role hears 403 first.
QueueDep = Annotated[AnnotationQueue, Depends(project_queue)]
