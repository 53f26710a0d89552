"""Sign-in, landing and sign-out in a real browser against a live server."""

import re

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.core.security import SESSION_COOKIE
from tests.e2e.browser import sign_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def annotator_and_project(database_url: str) -> tuple[str, int]:
    from app.accounts import service
    from app.accounts.models import Organization, Role

    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            organization = Organization(name="Acme")
            session.add(organization)
            session.flush()
            user = service.create_user(session, email="nia@example.com", password=PASSWORD,
                                       role=Role.annotator, organization=organization)
            project = service.create_project(session, organization_id=organization.id, name="Airline",
                                             actor="test")
            session.commit()
            return user.email, project.id
    finally:
        engine.dispose()


def test_an_annotator_lands_on_queues_and_a_cookie_replayed_after_sign_out_is_refused(page, browser, live):
    email, project_id = annotator_and_project(live.database_url)
    sign_in(page, email)
    expect(page).to_have_url(re.compile(rf"/projects/{project_id}/queues$"))
    # Their Settings is their own account page.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    stolen = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert httpx.get(f"{live.url}/api/v1/me", cookies={SESSION_COOKIE: stolen["value"]}).status_code == 200
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))

    assert httpx.get(f"{live.url}/api/v1/me", cookies={SESSION_COOKIE: stolen["value"]}).status_code == 401
    replay = browser.new_context(base_url=live.url)
    try:
        replay.add_cookies([stolen])
        other = replay.new_page()
        other.goto("/account")
        other.wait_for_url(re.compile(r"/login\?next=%2Faccount$"))
    finally:
        replay.close()
