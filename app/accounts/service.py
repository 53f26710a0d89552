"""Rules of the accounts domain. Never commits: the caller's unit of work does."""

import re

from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts import repository
from app.accounts.models import ApiKey, Membership, Organization, Project, Role, User
from app.audit import service as audit
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.security import (api_key_display_prefix, api_key_hash, hash_password, new_api_key,
                               password_reset_token, read_password_reset_token, verify_password)

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# NIST SP 800-63B asks for at least 8; 12 keeps "password1234"-style guesses rarer while
# a few unrelated words stay easy to type.
MIN_PASSWORD_LENGTH = 12
# Serialises first-run set-up so two browsers cannot both create "the first admin".
SETUP_LOCK_ID = 7_143_001


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 320:
        raise Unprocessable("Enter a valid e-mail address.", details={"field": "email"})
    return email


def check_password_strength(password: str, field: str = "password") -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise Unprocessable(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters; "
                            "a few unrelated words make a good one.", details={"field": field})


def parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise Unprocessable(f"Unknown role {role!r}; use one of: {', '.join(r.value for r in Role)}.",
                            details={"field": "role"}) from None


def check_name(name: str, what: str = "Name") -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise Unprocessable(f"{what} must be 1–200 characters.", details={"field": "name"})
    return name


def setup_open(session: Session) -> bool:
    return repository.count_users(session) == 0


def setup_first_admin(session: Session, *, email: str, password: str, organization_name: str,
                      name: str = "") -> User:
    session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SETUP_LOCK_ID})
    if not setup_open(session):
        raise Conflict("Sextant is already set up; sign in instead.")
    organization = Organization(name=check_name(organization_name, "Organisation name"))
    session.add(organization)
    session.flush()
    user = create_user(session, email=email, password=password, role=Role.admin,
                       organization=organization, name=name)
    audit.record(session, actor=f"user:{user.id}", action="setup.completed",
                 target=f"organization:{organization.id}")
    return user


def create_user(session: Session, *, email: str, password: str, role: Role | str,
                organization: Organization | None = None, name: str = "", actor: str = "system") -> User:
    """Create a user with a role in `organization` (default: the first one, created if none)."""
    role = parse_role(role) if isinstance(role, str) else role
    email = normalise_email(email)
    check_password_strength(password)
    if repository.get_user_by_email(session, email):
        raise Conflict(f"A user with e-mail {email} already exists.", details={"field": "email"})
    organization = organization or repository.first_organization(session)
    if organization is None:
        organization = Organization(name="Default")
        session.add(organization)
        session.flush()
    user = User(email=email, name=(name or "").strip()[:200], password_hash=hash_password(password))
    session.add(user)
    session.flush()
    session.add(Membership(organization_id=organization.id, user_id=user.id, role=role.value))
    session.flush()
    audit.record(session, actor=actor, action="user.created", target=f"user:{user.id}",
                 data={"email": email, "role": role.value, "organization_id": organization.id})
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = repository.get_user_by_email(session, (email or "").strip().lower())
    ok = verify_password(user.password_hash if user else None, password or "")
    return user if ok and user and user.is_active else None


def end_sessions(session: Session, user: User) -> int:
    """End every session of `user` (their cookies carry an older version); the new version."""
    version = repository.bump_session_version(session, user.id)
    set_committed_value(user, "session_version", version)
    return version


def change_own_password(session: Session, user: User, *, current: str, new: str) -> int:
    """Set a new password and end the user's sessions; returns the version to keep this one."""
    if not verify_password(user.password_hash, current or ""):
        raise Unprocessable("Your current password is wrong.", details={"field": "current_password"})
    check_password_strength(new, "new_password")
    user.password_hash = hash_password(new)
    audit.record(session, actor=f"user:{user.id}", action="user.password_changed", target=f"user:{user.id}")
    return end_sessions(session, user)


def member_of(session: Session, organization: Organization, user_id: int) -> Membership:
    found = repository.membership(session, user_id, organization.id)
    if found is None:
        raise NotFound("No such member in this organisation.")
    return found


def _not_yourself(member: Membership, actor: User, what: str) -> None:
    if member.user_id == actor.id:
        raise Conflict(f"You cannot {what} yourself; ask another admin.")


def change_role(session: Session, organization: Organization, user_id: int, role: str, *,
                actor: User) -> Membership:
    member = member_of(session, organization, user_id)
    new_role = parse_role(role)
    _not_yourself(member, actor, "change the role of")
    if member.role != new_role.value:
        audit.record(session, actor=f"user:{actor.id}", action="user.role_changed", target=f"user:{user_id}",
                     data={"from": member.role, "to": new_role.value, "organization_id": organization.id})
        member.role = new_role.value
        end_sessions(session, member.user)
    return member


def set_active(session: Session, organization: Organization, user_id: int, active: bool, *,
               actor: User) -> Membership:
    member = member_of(session, organization, user_id)
    _not_yourself(member, actor, "deactivate or reactivate")
    if member.user.is_active != active:
        member.user.is_active = active
        end_sessions(session, member.user)
        audit.record(session, actor=f"user:{actor.id}", target=f"user:{user_id}",
                     action="user.reactivated" if active else "user.deactivated")
    return member


def password_reset_link_token(session: Session, organization: Organization, user_id: int, *,
                              actor: User) -> str:
    """A one-time token for a reset link, shown to the admin (there is no mail server)."""
    member = member_of(session, organization, user_id)
    if not member.user.is_active:
        raise Conflict("Reactivate this member first.")
    audit.record(session, actor=f"user:{actor.id}", action="user.password_reset_issued", target=f"user:{user_id}")
    return password_reset_token(member.user.id, member.user.session_version)


def user_for_reset(session: Session, token: str) -> User:
    found = read_password_reset_token(token)
    user = repository.get_user(session, found[0]) if found else None
    if user is None or not user.is_active or user.session_version != found[1]:
        raise NotFound("This reset link is used, expired or unknown; ask an admin for a new one.")
    return user


def reset_password(session: Session, token: str, new: str) -> User:
    user = user_for_reset(session, token)
    check_password_strength(new)
    user.password_hash = hash_password(new)
    end_sessions(session, user)
    audit.record(session, actor=f"user:{user.id}", action="user.password_reset", target=f"user:{user.id}")
    return user


def role_in_organization(session: Session, user: User, organization_id: int) -> Role | None:
    found = repository.membership(session, user.id, organization_id)
    return Role(found.role) if found else None


def admin_organization(session: Session, user: User) -> Organization | None:
    """The organisation where `user` may create projects (the first one they administer)."""
    for found in repository.memberships_of(session, user.id):
        if Role(found.role) is Role.admin:
            return repository.get_organization(session, found.organization_id)
    return None


def create_project(session: Session, *, organization_id: int, name: str, actor: str) -> Project:
    name = check_name(name, "Project name")
    if repository.project_in_organization(session, organization_id, name):
        raise Conflict(f"A project named {name!r} already exists.", details={"field": "name"})
    project = Project(organization_id=organization_id, name=name)
    session.add(project)
    session.flush()
    audit.record(session, actor=actor, action="project.created", target=f"project:{project.id}",
                 project_id=project.id, data={"name": name})
    return project


def rename_project(session: Session, project: Project, name: str, *, actor: str) -> Project:
    name = check_name(name, "Project name")
    if name == project.name:
        return project
    if repository.project_in_organization(session, project.organization_id, name):
        raise Conflict(f"A project named {name!r} already exists.", details={"field": "name"})
    old = project.name
    project.name = name
    session.flush()
    audit.record(session, actor=actor, action="project.renamed", target=f"project:{project.id}",
                 project_id=project.id, data={"from": old, "to": name})
    return project


def find_project(session: Session, name: str) -> Project:
    """A project by name, for the CLI (names are unique within an organisation)."""
    found = repository.projects_named(session, name)
    if not found:
        raise NotFound(f"No project named {name!r}.")
    if len(found) > 1:
        raise Conflict(f"Several organisations have a project named {name!r}; use its id.")
    return found[0]


def create_api_key(session: Session, project: Project, *, name: str = "", actor: str,
                   created_by_id: int | None = None) -> tuple[ApiKey, str]:
    """Create a key; the plain text is returned once and never stored."""
    plain = new_api_key()
    key = ApiKey(project_id=project.id, name=(name or "").strip()[:200],
                 prefix=api_key_display_prefix(plain), key_hash=api_key_hash(plain),
                 created_by_id=created_by_id)
    session.add(key)
    session.flush()
    audit.record(session, actor=actor, action="api_key.created", target=f"api_key:{key.id}",
                 project_id=project.id, data={"prefix": key.prefix, "name": key.name})
    return key, plain


def revoke_api_key(session: Session, project: Project, key_id: int, *, actor: str) -> ApiKey:
    key = repository.get_api_key(session, project.id, key_id)
    if key is None:
        raise NotFound("No such API key in this project.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        audit.record(session, actor=actor, action="api_key.revoked", target=f"api_key:{key.id}",
                     project_id=project.id, data={"prefix": key.prefix})
    return key


def api_key_for(session: Session, plain: str) -> ApiKey | None:
    return repository.active_api_key_by_hash(session, api_key_hash(plain))


def _throttle_keys(email: str, client_ip: str) -> list[str]:
    return [f"login-fail:email:{(email or '').strip().lower()}", f"login-fail:ip:{client_ip}"]


def check_login_allowed(redis_client, email: str, client_ip: str, *, max_failures: int) -> int:
    """Seconds to wait before another try (0 = allowed), counted per e-mail and per address."""
    keys = _throttle_keys(email, client_ip)
    with redis_client.pipeline() as pipe:
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        values = pipe.execute()
    waits = [max(int(ttl), 1) for count, ttl in zip(values[::2], values[1::2])
             if count is not None and int(count) >= max_failures]
    return max(waits, default=0)


def record_login_failure(redis_client, email: str, client_ip: str, *, window_seconds: int) -> None:
    """Count a failure in a window that starts at the first one.

    `SET … NX EX` then `INCR` (which keeps the time-to-live) in one MULTI: the
    embedded Redis is 6.2, which has no `EXPIRE … NX` (Redis 7).
    """
    with redis_client.pipeline() as pipe:
        for key in _throttle_keys(email, client_ip):
            pipe.set(key, 0, ex=window_seconds, nx=True)
            pipe.incr(key)
        pipe.execute()


def clear_login_failures(redis_client, email: str) -> None:
    redis_client.delete(_throttle_keys(email, "")[0])
