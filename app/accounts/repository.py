"""All SQL of the accounts domain."""

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.accounts.models import ApiKey, Membership, Organization, Project, User


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def bump_session_version(session: Session, user_id: int) -> int:
    """Atomically, so two concurrent ends never agree on the same new version."""
    return session.scalar(update(User).where(User.id == user_id)
                          .values(session_version=User.session_version + 1).returning(User.session_version))


def users_by_id(session: Session, user_ids) -> dict[int, User]:
    ids = sorted(set(user_ids))
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def get_organization(session: Session, organization_id: int) -> Organization | None:
    return session.get(Organization, organization_id)


def first_organization(session: Session) -> Organization | None:
    return session.scalar(select(Organization).order_by(Organization.id).limit(1))


def memberships_of(session: Session, user_id: int) -> list[Membership]:
    return list(session.scalars(
        select(Membership).where(Membership.user_id == user_id).order_by(Membership.organization_id)))


def memberships_with_organization(session: Session, user_id: int) -> list[tuple[Membership, Organization]]:
    rows = session.execute(select(Membership, Organization)
                           .join(Organization, Organization.id == Membership.organization_id)
                           .where(Membership.user_id == user_id).order_by(Organization.name, Organization.id))
    return [(membership, organization) for membership, organization in rows]


def membership(session: Session, user_id: int, organization_id: int) -> Membership | None:
    return session.scalar(select(Membership).where(
        Membership.user_id == user_id, Membership.organization_id == organization_id))


def members_of(session: Session, organization_id: int) -> list[Membership]:
    return list(session.scalars(
        select(Membership).where(Membership.organization_id == organization_id).order_by(Membership.id)))


def get_project(session: Session, project_id: int) -> Project | None:
    return session.get(Project, project_id)


def projects_named(session: Session, name: str) -> list[Project]:
    return list(session.scalars(select(Project).where(Project.name == name).order_by(Project.id)))


def project_in_organization(session: Session, organization_id: int, name: str) -> Project | None:
    return session.scalar(select(Project).where(
        Project.organization_id == organization_id, Project.name == name))


def projects_for_user(session: Session, user_id: int) -> list[tuple[Project, str]]:
    rows = session.execute(
        select(Project, Membership.role)
        .join(Membership, Membership.organization_id == Project.organization_id)
        .where(Membership.user_id == user_id)
        .order_by(Project.name, Project.id))
    return [(project, role) for project, role in rows]


def api_keys_of(session: Session, project_id: int) -> list[ApiKey]:
    return list(session.scalars(
        select(ApiKey).where(ApiKey.project_id == project_id).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())))


def get_api_key(session: Session, project_id: int, key_id: int) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.project_id == project_id, ApiKey.id == key_id))


def active_api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)))


def touch_api_key(session: Session, key_id: int, now: datetime, min_interval_s: int = 60) -> None:
    """Record use, at most once a minute, so busy keys do not write on every request."""
    stale = func.coalesce(ApiKey.last_used_at, datetime(1970, 1, 1)) < now - func.make_interval(0, 0, 0, 0, 0, 0, min_interval_s)
    session.execute(update(ApiKey).where(ApiKey.id == key_id, stale).values(last_used_at=now))
