"""From an evaluator's page to everything it failed, and from an issue's page to its traces, in a real
browser on a live server: one click each, and the explorer lists exactly those traces."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.evals.models import EvalResult, Evaluator, EvaluatorVersion
from app.issues import service as issues
from tests.e2e.browser import sign_in
from tests.factories import Factory

pytestmark = pytest.mark.browser

FAILED = {2, 5, 6, 11}  # positions of the traces the active version failed
OLD_FAILED = {0, 1}  # failed only by the older version: not "what it flags now"


def seed(database_url: str) -> dict:
    """An admin, 12 traces, an issue and its evaluator: the active version failed 4 traces and
    passed the rest; an older version failed 2 others."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            factory = Factory(session)
            admin = factory.user("admin")
            project = factory.project()
            traces = factory.traces(project, 12)
            issue = issues.create_issue(session, project.id, "Invents a refund window", actor="test")
            evaluator = Evaluator(project_id=project.id, issue_id=issue.id, name="Refund window", active=True)
            session.add(evaluator)
            session.flush()
            for number, failed in ((1, OLD_FAILED), (2, FAILED)):
                version = EvaluatorVersion(evaluator_id=evaluator.id, number=number, status="ready", family="rule",
                                           spec={})
                session.add(version)
                session.flush()
                session.add_all(EvalResult(evaluator_version_id=version.id, trace_id=t.id, trace_start=t.start_time,
                                           verdict="fail" if i in failed else "pass",
                                           explanation="mentions a refund window")
                                for i, t in enumerate(traces))
            evaluator.active_version_id = version.id
            session.commit()
            return {"email": admin.email, "project": project.id, "evaluator": evaluator.id, "issue": issue.id,
                    "failed": {traces[i].id for i in FAILED}}
    finally:
        engine.dispose()


def listed_ids(page) -> set[int]:
    links = page.locator("#trace-rows td.trace-name a")
    return {int(href.rsplit("/", 1)[1]) for href in links.evaluate_all("els => els.map(e => e.getAttribute('href'))")}


def test_from_an_evaluator_to_everything_it_failed(page, live):
    seeded = seed(live.database_url)
    sign_in(page, seeded["email"])
    page.goto(f"/projects/{seeded['project']}/evaluators/{seeded['evaluator']}")
    page.locator("#recent-failures").get_by_role("link", name=re.compile("in the explorer")).click()

    page.wait_for_url(re.compile(rf"/projects/{seeded['project']}/traces\?evaluator={seeded['evaluator']}"
                                 r"&evaluator_verdict=fail$"))
    expect(page.locator("#trace-rows tr")).to_have_count(len(FAILED))
    assert listed_ids(page) == seeded["failed"]
    # The filter form says what is applied, so it can be changed from there.
    expect(page.locator('select[name="evaluator"]')).to_have_value(str(seeded["evaluator"]))
    expect(page.locator('select[name="evaluator_verdict"]')).to_have_value("fail")

    page.locator('select[name="evaluator_verdict"]').select_option("pass")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"evaluator_verdict=pass"))
    expect(page.locator("#trace-rows tr")).to_have_count(12 - len(FAILED))


def test_from_an_issue_to_its_traces(page, live):
    seeded = seed(live.database_url)
    sign_in(page, seeded["email"])
    page.goto(f"/projects/{seeded['project']}/issues/{seeded['issue']}")
    page.get_by_role("link", name="Its traces in the explorer").click()
    page.wait_for_url(re.compile(rf"/projects/{seeded['project']}/traces\?issue={seeded['issue']}$"))
    expect(page.locator("#trace-rows tr")).to_have_count(len(FAILED))
    assert listed_ids(page) == seeded["failed"]
