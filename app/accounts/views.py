"""HTML routes of the accounts domain: set-up, sign-in, account, projects, keys, members."""

from typing import Annotated

import redis
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.accounts import repository, service
from app.accounts.models import Role
from app.accounts.access import CurrentUser, OrgAdmin, PrincipalDep, ProjectAdmin, start_session
from app.core.deps import SessionDep
from app.core.errors import AppError, NotFound, ServiceUnavailable, TooManyRequests
from app.core.redis import get_redis
from app.core.settings import auth_settings
from app.core.templating import form_error, redirect, render
from app.core.types import Id

router = APIRouter(include_in_schema=False)

FormStr = Annotated[str, Form()]



def safe_next(target: str | None) -> str:
    """Only local paths: never send a signed-in user to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    if service.setup_open(session):
        return RedirectResponse("/setup", status_code=303)
    if principal.user is None:
        return RedirectResponse("/login", status_code=303)
    projects = repository.projects_for_user(session, principal.user.id)
    if not projects:
        return RedirectResponse("/settings/projects", status_code=303)
    remembered = request.session.get("pid")
    project, role = next(((p, r) for p, r in projects if p.id == remembered), projects[0])
    # Annotators come to annotate: their queues, not the explorer.
    landing = "queues" if role == Role.annotator else "traces"
    return RedirectResponse(f"/projects/{project.id}/{landing}", status_code=303)


@router.get("/setup", response_class=HTMLResponse)
def setup_page(request: Request, session: SessionDep) -> Response:
    if not service.setup_open(session):
        raise NotFound("Set-up is complete.")
    return render(request, "accounts/setup.html")


@router.post("/setup")
def setup_submit(request: Request, session: SessionDep, organization: FormStr, email: FormStr,
                 password: FormStr, name: Annotated[str, Form()] = "") -> Response:
    if not service.setup_open(session):
        raise NotFound("Set-up is complete.")
    try:
        user = service.setup_first_admin(session, email=email, password=password,
                                         organization_name=organization, name=name)
    except AppError as exc:
        return form_error(request, session, exc, "accounts/_setup_form.html",
                          {"email": email, "organization": organization, "name": name})
    start_session(request, user)
    return redirect("/settings/projects", request)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, session: SessionDep, principal: PrincipalDep,
               next: str | None = None) -> Response:
    if service.setup_open(session):
        return RedirectResponse("/setup", status_code=303)
    if principal.user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "accounts/login.html", {"next": safe_next(next)})


@router.post("/login")
def login_submit(request: Request, session: SessionDep, email: FormStr, password: FormStr,
                 next: Annotated[str, Form()] = "/") -> Response:
    settings = auth_settings()
    client_ip = request.client.host if request.client else "unknown"
    try:
        redis_client = get_redis()
        wait = service.check_login_allowed(redis_client, email, client_ip,
                                           max_failures=settings.login_max_failures)
        if wait:
            raise TooManyRequests(f"Too many failed sign-ins; try again in {wait} seconds.",
                                  headers={"Retry-After": str(wait)})
        user = service.authenticate(session, email, password)
        if user is None:
            service.record_login_failure(redis_client, email, client_ip,
                                         window_seconds=settings.login_window_seconds)
            return render(request, "accounts/_login_form.html",
                          {"error": "Wrong e-mail or password.", "email": email, "next": safe_next(next)},
                          status_code=400)
        service.clear_login_failures(redis_client, email)
    except redis.RedisError:
        raise ServiceUnavailable("Sign-in is unavailable: Redis cannot be reached.",
                                 headers={"Retry-After": "5"}) from None
    start_session(request, user)
    return redirect(safe_next(next), request)


@router.post("/logout")
def logout(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """Ends the user's sessions on the server too, so a copied cookie is worthless."""
    if principal.user is not None:
        service.end_sessions(session, principal.user)
    request.session.clear()
    return redirect("/login", request)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(request, "accounts/account.html",
                  {"memberships": repository.memberships_with_organization(session, user.id), "nav": "account"})


@router.post("/account/password")
def change_password(request: Request, session: SessionDep, user: CurrentUser, current_password: FormStr,
                    new_password: FormStr) -> Response:
    try:
        version = service.change_own_password(session, user, current=current_password, new=new_password)
    except AppError as exc:
        return form_error(request, session, exc, "accounts/_password_form.html", {})
    request.session["sv"] = version  # this session goes on; every other one has ended
    return render(request, "accounts/_password_form.html", {"saved": True})


@router.get("/reset/{token}", response_class=HTMLResponse)
def reset_page(token: str, request: Request, session: SessionDep) -> Response:
    user = service.user_for_reset(session, token)
    return render(request, "accounts/reset.html", {"token": token, "email": user.email})


@router.post("/reset/{token}")
def reset_submit(token: str, request: Request, session: SessionDep, new_password: FormStr) -> Response:
    try:
        service.reset_password(session, token, new_password)
    except AppError as exc:
        return form_error(request, session, exc, "accounts/_reset_form.html", {"token": token})
    request.session.clear()
    return redirect("/login", request)


@router.get("/settings/projects", response_class=HTMLResponse)
def projects_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    projects = repository.projects_for_user(session, user.id)
    can_create = service.admin_organization(session, user) is not None
    return render(request, "accounts/projects.html",
                  {"projects": projects, "can_create": can_create, "nav": "projects"})


@router.post("/settings/projects")
def create_project(request: Request, session: SessionDep, user: CurrentUser, organization: OrgAdmin,
                   name: FormStr) -> Response:
    try:
        project = service.create_project(session, organization_id=organization.id, name=name,
                                         actor=f"user:{user.id}")
    except AppError as exc:
        return form_error(request, session, exc, "accounts/_project_form.html", {"name": name})
    return redirect(f"/projects/{project.id}/settings", request)


@router.get("/projects/{project_id}/settings", response_class=HTMLResponse)
def project_settings(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin) -> Response:
    return render(request, "accounts/project_settings.html",
                  {"project": ctx.project, "keys": repository.api_keys_of(session, ctx.project.id),
                   "nav": "settings"})


@router.post("/projects/{project_id}/settings/name")
def rename_project(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin,
                   name: FormStr) -> Response:
    try:
        service.rename_project(session, ctx.project, name, actor=ctx.actor)
    except AppError as exc:
        return form_error(request, session, exc, "accounts/_rename_form.html", {"project": ctx.project, "name": name})
    return render(request, "accounts/_rename_form.html", {"project": ctx.project, "saved": True})


@router.post("/projects/{project_id}/settings/api-keys")
def create_api_key(project_id: Id, request: Request, session: SessionDep, ctx: ProjectAdmin,
                   name: Annotated[str, Form()] = "") -> Response:
    _, plain = service.create_api_key(session, ctx.project, name=name, actor=ctx.actor,
                                      created_by_id=ctx.user.id if ctx.user else None)
    return render(request, "accounts/_new_key.html",
                  {"project": ctx.project, "plain": plain, "base_url": str(request.base_url).rstrip("/"),
                   "keys": repository.api_keys_of(session, ctx.project.id)})


@router.post("/projects/{project_id}/settings/api-keys/{key_id}/revoke")
def revoke_api_key(project_id: Id, key_id: Id, request: Request, session: SessionDep,
                   ctx: ProjectAdmin) -> Response:
    service.revoke_api_key(session, ctx.project, key_id, actor=ctx.actor)
    return render(request, "accounts/_api_keys.html",
                  {"project": ctx.project, "keys": repository.api_keys_of(session, ctx.project.id)})


def _members(request: Request, session: Session, organization, **context) -> Response:
    return render(request, "accounts/_members.html",
                  {"members": repository.members_of(session, organization.id), **context})


@router.get("/settings/members", response_class=HTMLResponse)
def members_page(request: Request, session: SessionDep, organization: OrgAdmin) -> Response:
    return render(request, "accounts/members.html",
                  {"members": repository.members_of(session, organization.id), "nav": "projects"})


@router.post("/settings/members")
def add_member(request: Request, session: SessionDep, organization: OrgAdmin, user: CurrentUser,
               email: FormStr, password: FormStr, role: FormStr,
               name: Annotated[str, Form()] = "") -> Response:
    try:
        created = service.create_user(session, email=email, password=password, role=role,
                                      organization=organization, name=name, actor=f"user:{user.id}")
    except AppError as exc:
        return form_error(request, session, exc, "accounts/_member_form.html", {})
    # The form comes back empty and the table gains the new row (out of band).
    return render(request, "accounts/_member_form.html",
                  {"added": created.email, "members": repository.members_of(session, organization.id)})


@router.post("/settings/members/{user_id}/role")
def change_member_role(user_id: Id, request: Request, session: SessionDep, organization: OrgAdmin,
                       user: CurrentUser, role: FormStr) -> Response:
    member = service.change_role(session, organization, user_id, role, actor=user)
    return _members(request, session, organization,
                    notice=f"{member.user.email} is now {member.role}; their sessions have ended.")


@router.post("/settings/members/{user_id}/active")
def set_member_active(user_id: Id, request: Request, session: SessionDep, organization: OrgAdmin,
                      user: CurrentUser, active: Annotated[bool, Form()]) -> Response:
    member = service.set_active(session, organization, user_id, active, actor=user)
    done = "reactivated" if active else "deactivated; their sessions have ended"
    return _members(request, session, organization, notice=f"{member.user.email} is {done}.")


@router.post("/settings/members/{user_id}/password-reset")
def issue_password_reset(user_id: Id, request: Request, session: SessionDep, organization: OrgAdmin,
                         user: CurrentUser) -> Response:
    token = service.password_reset_link_token(session, organization, user_id, actor=user)
    member = service.member_of(session, organization, user_id)
    return _members(request, session, organization, reset_for=member.user.email,
                    reset_link=f"{str(request.base_url).rstrip('/')}/reset/{token}")
