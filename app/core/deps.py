"""Route dependencies every domain shares and that need no domain: the request's session.

Who is asking and with which role (`Principal`, `ProjectViewer`/`ProjectAnnotator`/`ProjectAdmin`)
reads users, keys and memberships, so it lives with them in `app/accounts/access.py`; a domain's
own path dependencies ("the project's queue named by the path") live in its `deps.py`.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from app.core.db import unit_of_work


def get_session() -> Iterator[Session]:
    """One session per request, committed before the response is sent."""
    with unit_of_work() as session:
        yield session


# scope="function": the commit happens before the response is sent, so a 200 means committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
