"""The annotation workbench in a real browser: keyboard only, parallel annotators, lapsed locks."""

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.e2e.browser import sign_in
from tests.factories import Factory

pytestmark = pytest.mark.browser

SHORT_LOCK_SECONDS = 5  # the smallest lock the settings allow


@dataclass
class Seeded:
    project_id: int
    queue_id: int
    item_ids: list[int]
    annotators: list[str]  # e-mails
    issue_ids: list[int]

    @property
    def queue_path(self) -> str:
        return f"/projects/{self.project_id}/queues/{self.queue_id}"


@contextmanager
def live_session(database_url: str):
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            yield session
            session.commit()
    finally:
        engine.dispose()


def seed(database_url: str, *, items: int, annotators: int = 1, issues: tuple[str, ...] = ()) -> Seeded:
    """Users, a project with traces, failure modes and a queue, committed on the live server's database."""
    from app.annotations import service
    from app.issues import service as issues_service

    with live_session(database_url) as session:
        factory = Factory(session)
        admin = factory.user("admin")
        people = [factory.user("annotator") for _ in range(annotators)]
        project = factory.project()
        traces = factory.traces(project, items)
        issue_ids = [issues_service.create_issue(session, project.id, title, actor="test").id for title in issues]
        queue = service.create_queue(session, project, service.QueueSpec(name="Refunds", instructions="Be *strict*"),
                                     actor=admin)
        service.add_traces(session, queue, [t.id for t in traces])
        session.flush()
        from app.annotations.models import QueueItem

        item_ids = sorted(i.id for i in session.query(QueueItem).filter(QueueItem.queue_id == queue.id))
        return Seeded(project.id, queue.id, item_ids, [p.email for p in people], issue_ids)



def item_on_screen(page) -> int:
    return int(page.locator("#workbench").get_attribute("data-item-id"))


def expect_done(page, done: int, mine: int) -> None:
    expect(page.get_by_test_id("done")).to_have_text(str(done))
    expect(page.get_by_test_id("mine")).to_have_text(str(mine))


def annotations(live) -> list[tuple]:
    return live.sql("""
        SELECT qi.id, a.verdict, a.feedback,
               coalesce(array_agg(ai.issue_id) FILTER (WHERE ai.issue_id IS NOT NULL), '{}')
        FROM annotation a JOIN queue_item qi ON qi.trace_id = a.trace_id
        LEFT JOIN annotation_issue ai ON ai.annotation_id = a.id
        GROUP BY qi.id, a.verdict, a.feedback ORDER BY qi.id""")


def test_an_annotator_does_three_items_with_the_keyboard_only(page, live):
    seeded = seed(live.database_url, items=4, issues=("Invents a refund policy", "Rude tone"))
    sign_in(page, seeded.annotators[0])
    page.goto(f"{seeded.queue_path}/annotate")
    page.wait_for_url(re.compile(rf"{seeded.queue_path}/items/\d+$"))
    expect(page.locator(".wb-instructions")).to_contain_text("Be strict")
    expect_done(page, 0, 0)
    first = item_on_screen(page)

    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()

    # 1: pass.
    page.keyboard.press("p")
    page.keyboard.press("Control+Enter")
    expect_done(page, 1, 1)
    second = item_on_screen(page)
    assert second != first
    page.wait_for_url(re.compile(rf"/items/{second}$"))

    # 2: fail, with feedback and the second failure mode by its number key.
    page.keyboard.press("f")
    page.keyboard.press("i")
    page.keyboard.type("Promises a refund the policy does not allow")
    page.keyboard.press("Escape")  # leave the text field: keys are commands again
    page.keyboard.press("2")
    expect(page.locator('input[data-shortcut="2"]')).to_be_checked()
    page.keyboard.press("Control+Enter")
    expect_done(page, 2, 2)
    third = item_on_screen(page)

    # 3: fail without feedback is refused in place; the cursor lands in the feedback.
    page.keyboard.press("f")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("alert")).to_contain_text("Feedback is required")
    assert item_on_screen(page) == third
    expect(page.locator("#feedback")).to_be_focused()
    page.keyboard.type("Answers in French")
    page.keyboard.press("Control+Enter")  # works while typing
    expect_done(page, 3, 3)

    # ← brings back my last annotation, prefilled, for editing.
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(re.compile(rf"/items/{third}$"))
    expect(page.locator("#feedback")).to_have_value("Answers in French")
    expect(page.get_by_test_id("editing")).to_be_visible()

    assert annotations(live) == [(first, "pass", "", []),
                                 (second, "fail", "Promises a refund the policy does not allow",
                                  [seeded.issue_ids[1]]),
                                 (third, "fail", "Answers in French", [])]


def test_two_annotators_in_parallel_never_get_the_same_item(browser, live):
    seeded = seed(live.database_url, items=4, annotators=2)
    pages = []
    for email in seeded.annotators:
        context = browser.new_context(base_url=live.url)
        context.set_default_timeout(10_000)
        page = context.new_page()
        sign_in(page, email)
        pages.append(page)
    try:
        for page in pages:  # both open the queue; each now holds an item
            page.goto(f"{seeded.queue_path}/annotate")
        held = [item_on_screen(page) for page in pages]
        assert held[0] != held[1]
        seen = [set(), set()]
        for _ in range(2):  # take turns: each moves on while the other still holds theirs
            for who, page in enumerate(pages):
                seen[who].add(item_on_screen(page))
                page.keyboard.press("p")
                page.keyboard.press("Control+Enter")
                expect(page.get_by_test_id("mine")).to_have_text(str(len(seen[who])))
                other = pages[1 - who]
                if page.locator("#workbench[data-item-id]").count():
                    assert item_on_screen(page) != item_on_screen(other)
        assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(seeded.item_ids)
        for page in pages:
            expect(page.get_by_test_id("queue-done")).to_be_visible()
        assert sorted(row[0] for row in annotations(live)) == seeded.item_ids
    finally:
        for page in pages:
            page.context.close()


@pytest.fixture(scope="module")
def short_lock_url(live_server, redis_url):
    """A second server on the live database whose item locks lapse after a few seconds."""
    from tests.live import server_env, start_server, stop_process

    env = server_env(live_server.database_url, redis_url, SEXTANT_QUEUE_LOCK_SECONDS=str(SHORT_LOCK_SECONDS))
    process, url = start_server(env)
    yield url
    stop_process(process)


def test_a_lapsed_lock_hands_the_abandoned_item_to_someone_else(browser, live, short_lock_url):
    seeded = seed(live.database_url, items=1, annotators=2)
    leaver_context = browser.new_context(base_url=short_lock_url)
    leaver = leaver_context.new_page()
    sign_in(leaver, seeded.annotators[0])
    leaver.goto(f"{seeded.queue_path}/annotate")
    abandoned = item_on_screen(leaver)
    leaver_context.close()  # walks away without submitting: nothing renews the lock

    context = browser.new_context(base_url=short_lock_url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in(page, seeded.annotators[1])
        page.goto(f"{seeded.queue_path}/annotate")
        expect(page.get_by_test_id("queue-done")).to_be_visible()  # held by the leaver for now
        page.wait_for_timeout(SHORT_LOCK_SECONDS * 1000 + 500)
        page.get_by_role("button", name="Check again").click()
        expect(page.locator("#workbench")).to_have_attribute("data-item-id", str(abandoned))
        page.wait_for_url(re.compile(rf"/items/{abandoned}$"))
        page.locator("label.verdict-pass").click()  # by mouse this time
        expect(page.get_by_role("radio", name=re.compile("^Pass"))).to_be_checked()
        page.get_by_role("button", name=re.compile("Submit and next")).click()
        expect(page.get_by_test_id("queue-done")).to_be_visible()
        expect_done(page, 1, 1)
    finally:
        context.close()


def test_letters_in_a_form_control_never_act_as_shortcuts(page, live):
    seeded = seed(live.database_url, items=3, issues=("Invents a refund policy",))
    sign_in(page, seeded.annotators[0])
    page.goto(f"{seeded.queue_path}/annotate")
    page.wait_for_url(re.compile(rf"{seeded.queue_path}/items/\d+$"))
    held = item_on_screen(page)

    page.locator('input[data-shortcut="1"]').focus()  # tabbed onto a failure-mode checkbox
    page.keyboard.type("sfp")  # "s" would skip, "f"/"p" would choose a verdict
    page.wait_for_timeout(300)
    assert item_on_screen(page) == held
    expect(page.locator('input[name="verdict"]:checked')).to_have_count(0)

    page.keyboard.press("Escape")  # leaves the checkbox: keys are commands again
    page.keyboard.press("n")
    expect(page.locator('input[name="new_issue"]')).to_be_focused()
    page.keyboard.type("Skips the safety check")
    expect(page.locator('input[name="new_issue"]')).to_have_value("Skips the safety check")
    assert item_on_screen(page) == held
    assert live.sql("SELECT count(*) FROM queue_skip")[0][0] == 0


def test_skipped_items_come_back_from_their_list_and_time_is_measured(page, live):
    seeded = seed(live.database_url, items=2)
    sign_in(page, seeded.annotators[0])
    page.goto(f"{seeded.queue_path}/annotate")
    page.wait_for_url(re.compile(rf"{seeded.queue_path}/items/\d+$"))
    skipped = item_on_screen(page)
    page.keyboard.press("s")
    expect(page.locator("#workbench")).not_to_have_attribute("data-item-id", str(skipped))
    page.keyboard.press("p")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("queue-done")).to_be_visible()

    page.get_by_test_id("skipped-link").first.click()
    expect(page.get_by_test_id("skipped").locator("tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Judge it now").click()
    page.wait_for_url(re.compile(rf"/items/{skipped}$"))
    started = time.monotonic()
    page.wait_for_timeout(2_500)  # the annotator reads the trace
    page.keyboard.press("p")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("queue-done")).to_be_visible()
    elapsed = time.monotonic() - started
    [(spent,)] = live.sql("SELECT seconds_spent FROM annotation a JOIN queue_item qi ON qi.trace_id = a.trace_id "
                          "WHERE qi.id = %s", (skipped,))
    # Counted from when the item appeared (a moment before `started`) to the submit.
    assert 2 <= spent <= elapsed + 2
