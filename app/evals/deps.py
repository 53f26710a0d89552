"""Path dependencies of the evals routes: the project's evaluator named by the path."""

from typing import Annotated

from fastapi import Depends

from app.accounts.access import ProjectAccess
from app.core.deps import SessionDep
from app.core.types import Id
from app.evals import service
from app.evals.models import Evaluator


def project_evaluator(evaluator_id: Id, session: SessionDep, access: ProjectAccess) -> Evaluator:
    return service.get_evaluator(session, access.project.id, evaluator_id)


# Declare it after the route's role dependency, so a caller without the role hears 403 first.
EvaluatorDep = Annotated[Evaluator, Depends(project_evaluator)]
