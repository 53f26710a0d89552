"""From the trace explorer to an annotation queue, in a real browser on a live server."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.e2e.browser import sign_in
from tests.factories import Factory

pytestmark = pytest.mark.browser


def seed(database_url: str) -> tuple[str, int, dict[str, int]]:
    """An admin, a project with three "checkout" traces in prod and three "refund" traces in
    staging, and two queues, committed on the live server's database; the e-mail, project and queue ids."""
    from app.annotations import service

    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            factory = Factory(session)
            admin = factory.user("admin")
            project = factory.project()
            factory.traces(project, 3, name="checkout", environment="prod")
            factory.traces(project, 3, name="refund", environment="staging")
            queues = {}
            for name in ("Refunds", "Tone"):  # a commit each: "Tone" is newer, so listed first
                queues[name] = service.create_queue(session, project, service.QueueSpec(name=name), actor=admin).id
                session.commit()
            return admin.email, project.id, queues
    finally:
        engine.dispose()


def test_an_admin_adds_a_selection_then_all_matching_to_a_queue(page, live):
    email, project_id, queues = seed(live.database_url)
    sign_in(page, email)
    page.goto(f"/projects/{project_id}/traces")
    rows = page.locator("#trace-rows tr")
    expect(rows).to_have_count(6)

    # Two prod traces: one ticked by mouse, one by "x" on its focused link.
    checkouts = rows.filter(has_text="checkout")
    checkouts.nth(0).get_by_role("checkbox").check()
    checkouts.nth(1).get_by_role("link", name="checkout").focus()
    page.keyboard.press("x")
    expect(checkouts.nth(1).get_by_role("checkbox")).to_be_checked()
    expect(page.get_by_label("Select all traces on this page")).to_have_js_property("indeterminate", True)
    expect(page.get_by_label("Add to queue")).to_have_value(str(queues["Tone"]))
    page.get_by_label("Add to queue").select_option(label="Refunds")
    page.get_by_role("button", name="Add selected (2)").click()
    expect(page.locator("#flash")).to_contain_text("Added 2 traces to Refunds")

    # Then everything in staging: the filter narrows the list; the chosen queue stays chosen.
    page.get_by_label("Environment").fill("staging")
    page.get_by_label("Environment").press("Enter")
    page.wait_for_url(re.compile(r"/traces\?environment=staging$"))
    expect(rows).to_have_count(3)
    expect(page.get_by_label("Add to queue")).to_have_value(str(queues["Refunds"]))
    page.get_by_role("button", name="Add all matching (up to 10,000)").click()
    expect(page.locator("#flash")).to_contain_text("Added 3 traces to Refunds")

    page.locator("#flash").get_by_role("link", name="Refunds").click()
    page.wait_for_url(re.compile(rf"/queues/{queues['Refunds']}$"))
    expect(page.get_by_test_id("queue-progress")).to_have_text(re.compile(r"0\s*/\s*5 done"))
    added = live.sql("SELECT queue_id, count(*) FROM queue_item GROUP BY queue_id")
    assert added == [(queues["Refunds"], 5)]
