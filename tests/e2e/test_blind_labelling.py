"""Blind labelling in a real browser: three annotators in separate sessions, one admin.

Until an annotator has judged an item, no page shows them anyone else's verdict on it:
not the queue page, not the explorer's label filters, not the issue page. Once they
have judged it, what the others said is no secret. The admin sees everything and
settles the dispute, which then has a history.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import sign_in
from tests.e2e.test_annotate import item_on_screen, seed

pytestmark = pytest.mark.browser

SECRET = "Promises a refund code RX-4411"


def open_context(browser, live, email):
    context = browser.new_context(base_url=live.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, email)
    return page


def judge_on_screen(page, verdict: str, feedback: str = "") -> None:
    page.keyboard.press(verdict[0])
    if feedback:
        page.keyboard.press("i")
        page.keyboard.type(feedback)
    page.keyboard.press("Control+Enter")


def failed_filter_rows(page, project_id: int) -> list[str]:
    page.goto(f"/projects/{project_id}/traces?annotated=fail")
    page.wait_for_load_state()
    return page.locator("td.trace-name a").evaluate_all("links => links.map(a => a.pathname.split('/').pop())")


def test_no_verdict_is_visible_to_an_annotator_before_their_own(browser, live):
    seeded = seed(live.database_url, items=1, annotators=3, issues=("Invents a refund policy",))
    live.sql("UPDATE annotation_queue SET annotators_per_item = 3")
    [trace_id] = [row[0] for row in live.sql("SELECT trace_id FROM queue_item")]
    issue_path = f"/projects/{seeded.project_id}/issues/{seeded.issue_ids[0]}"
    first, second, third = (open_context(browser, live, email) for email in seeded.annotators)
    try:
        first.goto(f"{seeded.queue_path}/annotate")
        first.wait_for_url(re.compile(r"/items/\d+$"))
        first.keyboard.press("f")
        first.keyboard.press("1")
        judge_on_screen(first, "fail", SECRET)
        expect(first.get_by_test_id("queue-done")).to_be_visible()

        for blind in (second, third):
            blind.goto(seeded.queue_path)
            expect(blind.get_by_test_id("blind")).to_be_visible()
            assert SECRET not in blind.content()
            assert str(trace_id) not in failed_filter_rows(blind, seeded.project_id)
            blind.goto(issue_path)
            assert SECRET not in blind.content()
            api = blind.request.get(f"/api/v1/traces?project_id={seeded.project_id}&annotated=fail")
            assert api.ok and api.json()["items"] == []

        # The one who judged it sees the label their verdict made, and the issue's example.
        assert str(trace_id) in failed_filter_rows(first, seeded.project_id)
        first.goto(issue_path)
        expect(first.get_by_text(SECRET)).to_be_visible()

        second.goto(f"{seeded.queue_path}/annotate")
        second.wait_for_url(re.compile(r"/items/\d+$"))
        assert item_on_screen(second)
        assert SECRET not in second.content()  # the workbench itself is blind
        second.keyboard.press("f")
        second.keyboard.press("1")
        judge_on_screen(second, "fail", "Makes up a refund")
        expect(second.get_by_test_id("queue-done")).to_be_visible()
        # Judged now: the second annotator may read what the first said; the third still not.
        second.goto(issue_path)
        expect(second.get_by_text(SECRET)).to_be_visible()
        third.goto(issue_path)
        assert SECRET not in third.content()
    finally:
        for page in (first, second, third):
            page.context.close()


def test_an_admin_settles_a_dispute_and_revises_it_with_history(page, live):
    seeded = seed(live.database_url, items=1, annotators=2)
    live.sql("UPDATE annotation_queue SET annotators_per_item = 2")
    annotators = []
    try:
        for email, verdict in zip(seeded.annotators, ("pass", "fail")):
            annotator = open_context(page.context.browser, live, email)
            annotators.append(annotator)
            annotator.goto(f"{seeded.queue_path}/annotate")
            annotator.wait_for_url(re.compile(r"/items/\d+$"))
            judge_on_screen(annotator, verdict, "Wrong amount" if verdict == "fail" else "")
            expect(annotator.get_by_test_id("queue-done")).to_be_visible()
    finally:
        for annotator in annotators:
            annotator.context.close()

    admin_email = live.sql("SELECT u.email FROM \"user\" u JOIN membership m ON m.user_id = u.id "
                           "WHERE m.role = 'admin' LIMIT 1")[0][0]
    sign_in(page, admin_email)
    page.goto(seeded.queue_path)
    card = page.locator(".q-dispute").first
    expect(card).to_contain_text("Wrong amount")
    card.locator("label.verdict-fail").click()
    card.get_by_label("Note").fill("Refunds are capped at 50 EUR")
    card.get_by_role("button", name="Adjudicate").click()
    expect(card).to_contain_text("Adjudicated: the label is now fail")

    page.goto(f"{seeded.queue_path}/settled")
    settled = page.locator("[data-testid=settled] .q-dispute").first
    settled.locator("label.verdict-pass").click()
    settled.get_by_label("Note").fill("The cap was lifted in May")
    settled.get_by_role("button", name="Revise").click()
    expect(settled).to_contain_text("label: pass")
    page.reload()
    expect(page.get_by_test_id("settled-by")).to_contain_text("The cap was lifted in May")
    expect(page.get_by_test_id("history")).to_contain_text("was fail (“Refunds are capped at 50 EUR”), now pass")
