"""Layout a person notices: a phone-width screen keeps Sign out reachable; trace names are not
cut mid-word because the table is busy."""

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import sign_in
from tests.e2e.test_annotate import live_session
from tests.factories import Factory

pytestmark = pytest.mark.browser


def seed_admin_with_traces(database_url: str) -> tuple[str, int]:
    with live_session(database_url) as session:
        factory = Factory(session)
        admin = factory.user("admin")
        project = factory.project()
        factory.traces(project, 3, name="support_chat")
        return admin.email, project.id


def test_a_phone_width_screen_keeps_every_nav_link_and_sign_out_on_screen(browser, live):
    email, project_id = seed_admin_with_traces(live.database_url)
    context = browser.new_context(base_url=live.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in(page, email)
        page.goto(f"/projects/{project_id}/traces")
        sign_out = page.get_by_role("button", name="Sign out")
        expect(sign_out).to_be_visible()
        box = sign_out.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 or \
            page.locator(".topbar").evaluate("e => e.scrollWidth <= e.clientWidth")
        for name in ("Traces", "Queues", "Issues"):
            expect(page.get_by_role("navigation", name="Main").get_by_role("link", name=name)).to_be_visible()
    finally:
        context.close()


def test_trace_names_are_not_broken_mid_word(browser, live):
    email, project_id = seed_admin_with_traces(live.database_url)
    # Long previews squeeze the table: the name column must still keep "support_chat" whole.
    live.sql("UPDATE trace SET input = repeat('a long question ', 40), output = repeat('a long answer ', 40)")
    context = browser.new_context(base_url=live.url, viewport={"width": 800, "height": 800})
    page = context.new_page()
    try:
        sign_in(page, email)
        page.goto(f"/projects/{project_id}/traces")
        name = page.locator("td.trace-name a").first
        expect(name).to_have_text("support_chat")
        line_height = float(name.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
        assert name.bounding_box()["height"] < 1.5 * line_height  # one line, not "support_ch / at"
    finally:
        context.close()
