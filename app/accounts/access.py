"""Who is asking, and may they? The one place roles are checked.

A request is made either by a signed-in user (session cookie) or by an API key
(`Authorization: Bearer sx_…`), which belongs to one project and acts there with
the annotator role (read, ingest, annotate; never administer).
"""

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.accounts import repository, service
from app.accounts.models import ApiKey, Project, Role, User
from app.core.db import get_engine, unit_of_work, utcnow
from app.core.deps import SessionDep
from app.core.errors import Forbidden, NotAuthenticated, NotFound
from app.core.security import api_key_hash, api_key_token
from app.core.settings import auth_settings
from app.core.templating import remember_for_layout
from app.core.types import MAX_ID

log = logging.getLogger(__name__)

API_KEY_ROLE = Role.annotator


@dataclass(frozen=True)
class ApiKeyIdentity:
    """What a request needs of the API key it came with (a snapshot, safe to share between requests)."""

    id: int
    project_id: int
    prefix: str = ""
    name: str = ""  # prefix and name: how the key is named to people (a gate run's trigger)


@dataclass
class Principal:
    user: User | None = None
    api_key: ApiKeyIdentity | None = None

    @property
    def actor(self) -> str:
        if self.user is not None:
            return f"user:{self.user.id}"
        if self.api_key is not None:
            return f"api_key:{self.api_key.id}"
        return "anonymous"


@dataclass
class ProjectContext:
    project: Project
    role: Role
    principal: Principal

    @property
    def actor(self) -> str:
        return self.principal.actor

    @property
    def user(self) -> User | None:
        return self.principal.user


# Keys seen lately in this process, by hash: (monotonic expiry, identity). Busy ingestion
# then does no key lookup per request; a key revoked elsewhere (another process, SQL) still
# works here for up to SEXTANT_API_KEY_CACHE_SECONDS, one revoked here stops at once.
_recent_keys: dict[str, tuple[float, ApiKeyIdentity]] = {}
RECENT_KEYS_MAX = 10_000


def _api_key(session: Session, token: str, background: BackgroundTasks) -> ApiKeyIdentity | None:
    digest = api_key_hash(token)
    cached = _recent_keys.get(digest)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    key = repository.active_api_key_by_hash(session, digest)
    if key is None:
        _recent_keys.pop(digest, None)
        return None
    if len(_recent_keys) >= RECENT_KEYS_MAX:
        _recent_keys.clear()
    identity = ApiKeyIdentity(id=key.id, project_id=key.project_id, prefix=key.prefix, name=key.name)
    _recent_keys[digest] = (time.monotonic() + auth_settings().api_key_cache_seconds, identity)
    if key.last_used_at is None or utcnow() - key.last_used_at >= timedelta(minutes=1):
        # After the response, once this request's connection is back in the pool: taking a
        # second one while holding the first could wait on a pool that requests have drained.
        background.add_task(_touch_key, key.id, utcnow())
    return identity


@event.listens_for(ApiKey.revoked_at, "set")
def _forget_revoked_key(key: ApiKey, value, _old, _initiator) -> None:
    if value is not None:
        _recent_keys.pop(key.key_hash, None)


def _touch_key(key_id: int, now: datetime) -> None:
    # Own short transaction: a busy key must not hold a row lock for a whole request.
    try:
        with get_engine().begin() as conn, Session(bind=conn) as side:
            repository.touch_api_key(side, key_id, now)
    except SQLAlchemyError as error:  # "last used" is a hint; the request is already answered
        log.warning("could not record the use of API key %s: %s", key_id, error)


def get_principal(request: Request, session: SessionDep, background: BackgroundTasks) -> Principal:
    if "authorization" in request.headers:
        # Judged by that header alone, never by the session cookie too: the CSRF check
        # skips only requests that a valid API key authenticates.
        token = api_key_token(request.headers["authorization"])
        if token is None:
            raise NotAuthenticated("Send an API key as `Authorization: Bearer sx_…` "
                                   "(or as the password of HTTP Basic auth).")
        key = _api_key(session, token, background)
        if key is None:
            raise NotAuthenticated("Invalid or revoked API key.")
        return Principal(api_key=key)
    user = _session_user(request, session)
    if user is None:
        return Principal()
    remember_for_layout(request, user=user)
    return Principal(user=user)


def _session_user(request: Request, session: Session) -> User | None:
    """The signed-in user, if the cookie's session has not been ended since."""
    cookie = request.session if "session" in request.scope else {}
    user_id, version = cookie.get("uid"), cookie.get("sv")
    user = repository.get_user(session, user_id) if isinstance(user_id, int) else None
    if user is None or not user.is_active or user.session_version != version:
        return None
    return user


def start_session(request: Request, user: User) -> None:
    request.session.clear()
    request.session.update(uid=user.id, sv=user.session_version)


def api_key_checker(sessions: Callable[[], ContextManager[Session]] = unit_of_work) -> Callable[[str], bool]:
    """Is a token a valid API key? For the CSRF middleware, which runs before any route's session."""

    def is_valid(token: str) -> bool:
        with sessions() as session:
            return service.api_key_for(session, token) is not None

    return is_valid


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_current_user(principal: PrincipalDep) -> User:
    if principal.user is None:
        raise NotAuthenticated("Sign in first." if principal.api_key is None
                               else "This action needs a signed-in user, not an API key.")
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def _project_role(session: Session, principal: Principal, project: Project) -> Role | None:
    if principal.api_key is not None:
        return API_KEY_ROLE if principal.api_key.project_id == project.id else None
    if principal.user is not None:
        return service.role_in_organization(session, principal.user, project.organization_id)
    return None


def get_project_access(request: Request, session: SessionDep, principal: PrincipalDep) -> ProjectContext:
    """The project named by the path (or, for API keys, the key's own project) with the caller's
    role in it, whatever that role is. Resolved once per request, however many dependencies ask."""
    if principal.user is None and principal.api_key is None:
        raise NotAuthenticated("Sign in or send an API key.")
    project_id = _requested_project_id(request, principal)
    project = repository.get_project(session, project_id) if project_id is not None else None
    role = _project_role(session, principal, project) if project else None
    if project is None or role is None:
        # Same answer for "absent" and "not yours": no probing of other projects.
        raise NotFound("No such project.")
    remember_for_layout(request, project=project, role=role)  # a refusal still shows its nav
    return ProjectContext(project=project, role=role, principal=principal)


ProjectAccess = Annotated[ProjectContext, Depends(get_project_access)]


def require_project(min_role: Role):
    """Dependency: the project's context, where the caller's role must be at least `min_role`."""

    def dependency(request: Request, access: ProjectAccess) -> ProjectContext:
        if not access.role.at_least(min_role):
            raise Forbidden(f"This needs the {min_role.value} role; you are {access.role.value}.")
        if access.user is not None and "session" in request.scope:
            request.session["pid"] = access.project.id  # the project "/" returns to
        return access

    return dependency


def _requested_project_id(request: Request, principal: Principal) -> int | None:
    raw = request.path_params.get("project_id") or request.query_params.get("project_id")
    if raw is None:
        return principal.api_key.project_id if principal.api_key else None
    try:
        project_id = int(raw)
    except (TypeError, ValueError):
        return None
    return project_id if 1 <= project_id <= MAX_ID else None  # beyond BIGINT: names no project


ProjectViewer = Annotated[ProjectContext, Depends(require_project(Role.viewer))]
ProjectAnnotator = Annotated[ProjectContext, Depends(require_project(Role.annotator))]
ProjectAdmin = Annotated[ProjectContext, Depends(require_project(Role.admin))]


def get_org_admin(session: SessionDep, user: CurrentUser):
    organization = service.admin_organization(session, user)
    if organization is None:
        raise Forbidden("Only admins can do this.")
    return organization


OrgAdmin = Annotated[object, Depends(get_org_admin)]
