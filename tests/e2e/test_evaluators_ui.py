"""The evaluator pages in a real browser, with a real worker: generate from labels, watch the
version become ready without reloading, activate it, read its held-out MCC and interval."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.e2e.test_annotate import sign_in
from tests.evals.test_service import labelled_project
from tests.factories import Factory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GENERATION_TIMEOUT_MS = 180_000


def seed(database_url: str) -> tuple[str, int, int]:
    """An admin and a project whose issue has 20 failed and 20 passing human labels."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            factory = Factory(session)
            admin = factory.user("admin")
            project, issue, *_ = labelled_project(session, factory)
            session.commit()
            return admin.email, project.id, issue.id
    finally:
        engine.dispose()


def test_an_admin_generates_activates_and_reads_the_held_out_figure(page, live, celery_worker):
    email, project_id, issue_id = seed(live.database_url)
    sign_in(page, email)
    page.goto(f"/projects/{project_id}/evaluators")
    issue_row = page.locator(f'tr[data-issue="{issue_id}"]')
    expect(issue_row).to_contain_text("20")
    issue_row.get_by_role("button", name="Generate evaluator").click()

    page.wait_for_url(re.compile(rf"/projects/{project_id}/evaluators/\d+$"))
    version = page.locator('article[data-version="1"]')
    expect(version.locator("[data-status]")).to_have_attribute("data-status", re.compile("pending|running"))
    # The page polls: no reload until the worker has finished.
    expect(version.locator('[data-status="ready"]')).to_be_visible(timeout=GENERATION_TIMEOUT_MS)
    expect(page.locator('#evaluator-summary [data-state="inactive"]')).to_be_visible()

    version.get_by_role("button", name="Activate v1").click()
    summary = page.locator("#evaluator-summary")
    expect(summary.locator('[data-state="active"]')).to_have_text("active · v1")
    figure = re.compile(r"MCC\s+-?\d\.\d\d\s+\(95% CI -?\d\.\d\d to -?\d\.\d\d\)")
    expect(summary.locator(".active-mcc")).to_contain_text(figure)
    expect(summary.locator(".active-mcc")).to_contain_text(re.compile(r"n = \d+"))
    expect(version.locator("[data-active-version]")).to_have_text("active")

    page.goto(f"/projects/{project_id}/evaluators")
    expect(page.locator("#evaluator-table")).to_contain_text("active")
    expect(page.locator("#uncovered-issues")).to_contain_text("Every open issue has an evaluator.")
    figures = live.sql("SELECT e.active, v.status, v.mcc FROM evaluator e JOIN evaluator_version v "
                       "ON v.id = e.active_version_id")
    assert [(active, status) for active, status, _ in figures] == [(True, "ready")]
