"""JSON routes of the accounts domain, under /api/v1."""

from fastapi import APIRouter, status

from app.accounts import repository, service
from app.accounts.access import CurrentUser, OrgAdmin, ProjectAdmin, ProjectViewer
from app.accounts.schemas import (ApiKeyCreate, ApiKeyCreated, ApiKeyRead, MemberCreate, MemberRead,
                                  ProjectCreate, ProjectRead, ProjectUpdate, UserRead)
from app.core.deps import SessionDep
from app.core.types import Id

router = APIRouter(tags=["accounts"])


def _project_read(project, role=None) -> ProjectRead:
    return ProjectRead.model_validate(project).model_copy(update={"role": role})


@router.get("/me", response_model=UserRead)
def me(session: SessionDep, user: CurrentUser) -> UserRead:
    projects = [_project_read(p, role) for p, role in repository.projects_for_user(session, user.id)]
    return UserRead(id=user.id, email=user.email, name=user.name, projects=projects)


@router.get("/projects", response_model=list[ProjectRead])
def list_projects(session: SessionDep, user: CurrentUser) -> list[ProjectRead]:
    return [_project_read(p, role) for p, role in repository.projects_for_user(session, user.id)]


@router.post("/projects", response_model=ProjectRead, status_code=status.HTTP_201_CREATED)
def create_project(body: ProjectCreate, session: SessionDep, user: CurrentUser, organization: OrgAdmin):
    project = service.create_project(session, organization_id=organization.id, name=body.name,
                                     actor=f"user:{user.id}")
    return _project_read(project, "admin")


@router.get("/projects/{project_id}", response_model=ProjectRead)
def get_project(project_id: Id, ctx: ProjectViewer) -> ProjectRead:
    return _project_read(ctx.project, ctx.role.value)


@router.patch("/projects/{project_id}", response_model=ProjectRead)
def rename_project(project_id: Id, body: ProjectUpdate, session: SessionDep, ctx: ProjectAdmin):
    project = service.rename_project(session, ctx.project, body.name, actor=ctx.actor)
    return _project_read(project, ctx.role.value)


@router.get("/projects/{project_id}/api-keys", response_model=list[ApiKeyRead])
def list_api_keys(project_id: Id, session: SessionDep, ctx: ProjectAdmin):
    return repository.api_keys_of(session, ctx.project.id)


@router.post("/projects/{project_id}/api-keys", response_model=ApiKeyCreated,
             status_code=status.HTTP_201_CREATED)
def create_api_key(project_id: Id, body: ApiKeyCreate, session: SessionDep, ctx: ProjectAdmin):
    key, plain = service.create_api_key(session, ctx.project, name=body.name, actor=ctx.actor,
                                        created_by_id=ctx.user.id if ctx.user else None)
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=plain)


@router.delete("/projects/{project_id}/api-keys/{key_id}", response_model=ApiKeyRead)
def revoke_api_key(project_id: Id, key_id: Id, session: SessionDep, ctx: ProjectAdmin):
    return service.revoke_api_key(session, ctx.project, key_id, actor=ctx.actor)


@router.get("/members", response_model=list[MemberRead])
def list_members(session: SessionDep, organization: OrgAdmin) -> list[MemberRead]:
    return [MemberRead(user_id=m.user_id, email=m.user.email, name=m.user.name, role=m.role)
            for m in repository.members_of(session, organization.id)]


@router.post("/members", response_model=MemberRead, status_code=status.HTTP_201_CREATED)
def add_member(body: MemberCreate, session: SessionDep, user: CurrentUser, organization: OrgAdmin):
    created = service.create_user(session, email=body.email, password=body.password, role=body.role,
                                  organization=organization, name=body.name, actor=f"user:{user.id}")
    return MemberRead(user_id=created.id, email=created.email, name=created.name, role=body.role)
