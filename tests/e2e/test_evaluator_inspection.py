"""Inspecting an evaluator in a real browser on a live server: its failures page past 20 with input and
output; one no better than chance says so and activates only on insistence; the issue page shows input
and output and generates an evaluator."""

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

RULE = {"format": "sextant.evaluator", "version": 1, "family": "rule", "combine": "any",
        "clauses": [{"field": "output", "kind": "phrase", "pattern": "answer"}]}


def seed(database_url: str) -> dict:
    """An admin, 25 traces all failed by an active evaluator, and a second, weak version (interval reaches 0)."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            factory = Factory(session)
            admin = factory.user("admin")
            project = factory.project()
            traces = factory.traces(project, 25)
            issue = issues.create_issue(session, project.id, "Invents a refund window", actor="test")
            evaluator = Evaluator(project_id=project.id, issue_id=issue.id, name="Refund window", active=True)
            session.add(evaluator)
            session.flush()
            good = EvaluatorVersion(evaluator_id=evaluator.id, number=1, status="ready", family="rule", spec=RULE,
                                    mcc=0.8, mcc_ci_low=0.6, mcc_ci_high=0.9, metrics={"n": 40})
            weak = EvaluatorVersion(evaluator_id=evaluator.id, number=2, status="ready", family="rule", spec=RULE,
                                    mcc=0.1, mcc_ci_low=-0.1, mcc_ci_high=0.3, metrics={"n": 40})
            session.add_all([good, weak])
            session.flush()
            session.add_all(EvalResult(evaluator_version_id=good.id, trace_id=t.id, trace_start=t.start_time,
                                       verdict="fail", explanation="mentions a refund window") for t in traces)
            evaluator.active_version_id = good.id
            session.commit()
            newest = max(traces, key=lambda t: t.start_time)
            return {"email": admin.email, "project": project.id, "evaluator": evaluator.id, "issue": issue.id,
                    "newest_input": newest.input, "newest_output": newest.output}
    finally:
        engine.dispose()


def test_failures_page_past_twenty_and_a_weak_version_needs_insisting(page, live):
    seeded = seed(live.database_url)
    sign_in(page, seeded["email"])
    page.goto(f"/projects/{seeded['project']}/evaluators/{seeded['evaluator']}")
    failures = page.locator("#recent-failures li.failure")
    expect(failures).to_have_count(20)
    expect(failures.first.locator(".excerpts")).to_contain_text(seeded["newest_input"])
    expect(failures.first.locator(".excerpts")).to_contain_text(seeded["newest_output"])
    page.get_by_role("button", name="Older failures").click()
    expect(failures).to_have_count(25)
    expect(page.get_by_role("button", name="Older failures")).to_have_count(0)

    weak = page.locator('[data-version="2"]')
    expect(weak).to_contain_text("no better than chance — retire or refine")
    expect(weak).to_contain_text("its 95% interval (-0.10 to 0.30) includes 0")
    page.once("dialog", lambda dialog: dialog.accept())
    weak.get_by_role("button", name="Activate v2 anyway").click()
    expect(page.locator("#evaluator-summary")).to_contain_text("active · v2")
    expect(page.locator("#evaluator-summary")).to_contain_text("The active version is no better than chance")


def test_the_issue_page_generates_an_evaluator(page, live):
    seeded = seed(live.database_url)
    sign_in(page, seeded["email"])
    page.goto(f"/projects/{seeded['project']}/issues/{seeded['issue']}")
    page.get_by_role("button", name="Generate evaluator").click()
    # No labelled examples yet: it says what is missing, in place.
    expect(page.locator(".generate-form")).to_contain_text("Needs 8 more failed examples of this issue", timeout=30_000)
    expect(page).to_have_url(re.compile(rf"/issues/{seeded['issue']}$"))
