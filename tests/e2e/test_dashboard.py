"""The dashboard and a gate report in a real browser: charts drawn, exact figures on hover
(SVG titles), each chart's table readable, filters kept in the URL."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.core import jobs
from app.core.db import utcnow
from app.dashboard import tasks
from app.evals import service as evals_service
from app.traces.models import Trace
from tests.dashboard.seed import add_gating_pair, expected_traffic, seed_traffic
from tests.e2e.browser import sign_in
from tests.factories import Factory

pytestmark = pytest.mark.browser


def seed(live):
    engine = create_engine(live.database_url)
    try:
        with Session(engine) as session:
            factory = Factory(session)
            viewer = factory.user("viewer")
            project = factory.project("Support")
            rows = seed_traffic(session, project, utcnow().date())
            add_gating_pair(session, project.id)
            evals_service.evaluate_traces(session, project.id, [t for (t,) in session.query(Trace.id)])
            session.commit()
            tasks.refresh(jobs.joined(session), project.id)
            return viewer.email, project.id, rows
    finally:
        engine.dispose()


def test_charts_render_with_their_tables(page, live):
    email, project_id, rows = seed(live)
    sign_in(page, email)
    page.goto(f"/projects/{project_id}/dashboard?range=7")
    traces = page.locator('[data-chart="traces"]')
    expect(traces.locator("svg rect.bar").first).to_be_visible()
    today = utcnow().date()
    expected_today = expected_traffic(rows, [today])["traces"][0]
    assert traces.locator("svg rect.bar title").last.text_content() == f"{today.isoformat()} · traces: {expected_today}"
    for key in ("errors", "latency", "human", "states"):
        expect(page.locator(f'[data-chart="{key}"]')).to_be_visible()
    band = page.locator('#issue-rates polygon.band').first
    expect(band).to_be_attached()

    traces.locator("summary").click()
    table = page.locator('table[data-table="traces"]')
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(7)
    expect(table.locator("tbody tr").last.locator("td").nth(1)).to_have_text(str(expected_today))

    page.locator("select[name=environment]").select_option("staging")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"environment=staging"))
    staging_today = expected_traffic(rows, [today], environment="staging")["traces"][0]
    assert page.locator('[data-chart="traces"] table tbody tr').last.locator("td").nth(1).text_content() == \
        str(staging_today)
