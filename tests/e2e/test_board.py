"""The issue board in a real browser: drag a card, or use its "Move to…" menu; states persist."""


import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.issues import service
from tests.e2e.browser import sign_in
from tests.factories import Factory

pytestmark = pytest.mark.browser


def seed(live) -> tuple[str, int, int]:
    engine = create_engine(live.database_url)
    try:
        with Session(engine) as session:
            factory = Factory(session)
            admin = factory.user("admin")
            project = factory.project()
            issue = service.create_issue(session, project.id, "Answers in the <wrong> language", actor="test")
            session.commit()
            return admin.email, project.id, issue.id
    finally:
        engine.dispose()


def column(page, state):
    return page.locator(f'.board-cards[data-state="{state}"]')


def drag(page, card, target):
    """Press on the card (not on its title link), move in small steps as a hand does, release
    over the column."""
    start, end = card.locator(".occurrences").bounding_box(), target.bounding_box()
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 8, y + 8, steps=4)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 20, steps=15)
    page.mouse.up()



def test_cards_move_by_drag_and_by_the_move_menu_and_stay_moved(page, live):
    email, project_id, issue_id = seed(live)
    sign_in(page, email)
    page.goto(f"/projects/{project_id}/issues")
    card = page.locator(f"#issue-{issue_id}")
    expect(column(page, "new").locator(f"#issue-{issue_id}")).to_be_visible()
    expect(card.locator(".issue-title")).to_have_text("Answers in the <wrong> language")

    # Drag from "new" to "ongoing": no reason needed. (Sortable moves the card at once; wait
    # for the server's answer before reloading.)
    with page.expect_response(lambda r: r.url.endswith("/transition")) as answer:
        drag(page, card, column(page, "ongoing"))
    assert answer.value.status == 200
    expect(column(page, "ongoing").locator(f"#issue-{issue_id}")).to_be_visible()
    page.reload()
    expect(column(page, "ongoing").locator(f"#issue-{issue_id}")).to_be_visible()
    assert live.sql("SELECT state FROM issue WHERE id = %s", (issue_id,)) == [("ongoing",)]

    # An illegal drag (only the system escalates): the server's message, and the card goes back.
    with page.expect_response(lambda r: r.url.endswith("/transition")) as answer:
        drag(page, page.locator(f"#issue-{issue_id}"), column(page, "escalating"))
    assert answer.value.status == 409
    expect(page.locator("#flash")).to_contain_text("cannot move an issue from ongoing to escalating")
    expect(column(page, "ongoing").locator(f"#issue-{issue_id}")).to_be_visible()
    expect(column(page, "escalating").locator(".issue-card")).to_have_count(0)

    # The keyboard way: "Move to…" → Resolved… asks what was fixed.
    menu = page.locator(f"#issue-{issue_id} .move-menu summary")
    menu.focus()
    page.keyboard.press("Enter")
    page.locator(f"#issue-{issue_id}").get_by_role("button", name="Resolved…").click()
    dialog = page.locator("#move-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("What was fixed, and in which release?").fill("Language detection fixed in 2.4.1")
    dialog.get_by_role("button", name="Move to resolved").click()
    expect(dialog).to_be_hidden()
    expect(column(page, "resolved").locator(f"#issue-{issue_id}")).to_be_visible()
    page.reload()
    expect(column(page, "resolved").locator(f"#issue-{issue_id}")).to_be_visible()
    assert live.sql("SELECT state FROM issue WHERE id = %s", (issue_id,)) == [("resolved",)]
    assert live.sql("SELECT reason FROM issue_event WHERE issue_id = %s ORDER BY id DESC LIMIT 1",
                    (issue_id,)) == [("Language detection fixed in 2.4.1",)]


def test_dragging_to_a_state_that_needs_a_reason_opens_the_form_and_cancel_puts_it_back(page, live):
    email, project_id, issue_id = seed(live)
    sign_in(page, email)
    page.goto(f"/projects/{project_id}/issues")
    drag(page, page.locator(f"#issue-{issue_id}"), column(page, "ignored"))
    dialog = page.locator("#move-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Why is it not worth tracking?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(column(page, "new").locator(f"#issue-{issue_id}")).to_be_visible()
    assert live.sql("SELECT state FROM issue WHERE id = %s", (issue_id,)) == [("new",)]
