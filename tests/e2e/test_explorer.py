"""The trace explorer in a real browser, on traces sent over OTLP to a live server."""

import re

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.accounts import service
from app.accounts.models import Organization, Role
from tests.traces import taubench

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "ada@example.com", "a long password"
CONVERSATIONS = 3


def admin_project_and_key(database_url: str) -> tuple[int, str]:
    """An admin, a project and an API key in the live server's database, by the account services."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            organization = Organization(name="Acme")
            session.add(organization)
            session.flush()
            service.create_user(session, email=EMAIL, password=PASSWORD, role=Role.admin, organization=organization)
            project = service.create_project(session, organization_id=organization.id, name="Airline", actor="test")
            _, key = service.create_api_key(session, project, actor="test")
            session.commit()
            return project.id, key
    finally:
        engine.dispose()


def tool_names(conversation: dict) -> list[str]:
    return [call["function"]["name"] for m in conversation["traj"] for call in m.get("tool_calls") or []]


def test_a_conversation_sent_over_otlp_shows_its_tool_calls(page, live):
    project_id, key = admin_project_and_key(live.database_url)
    response = httpx.post(f"{live.url}/v1/traces", content=taubench.export_body(CONVERSATIONS),
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf"})
    assert response.status_code == 200
    conversation = taubench.conversations()[0]
    session_id, tools = taubench.session_id(conversation), tool_names(conversation)
    assert tools

    page.goto("/login")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf"/projects/{project_id}/traces$"))
    rows = page.locator("#trace-rows tr")
    expect(rows).to_have_count(CONVERSATIONS)

    # A filter narrows the list in place and lands in the URL, to share.
    page.get_by_label("Session").fill(session_id)
    page.get_by_label("Session").press("Enter")
    page.wait_for_url(re.compile(rf"/traces\?session_id={session_id}$"))
    expect(rows).to_have_count(1)

    rows.first.get_by_role("link", name="invoke_agent airline_agent").click()
    page.wait_for_url(re.compile(rf"/projects/{project_id}/traces/\d+$"))
    tree = page.locator("[data-span-tree]")
    for tool in tools:
        expect(tree.get_by_text(f"execute_tool {tool}").first).to_be_visible()

    # The last model call has the whole conversation: every tool call, with its result.
    tree.locator(".span-row", has_text="chat gpt-4o").last.click()
    page.wait_for_url(re.compile(r"\?span=\d+$"))
    panel = page.locator("#span-panel")
    expect(panel.locator(".tool-name")).to_have_text(tools)
    expect(panel.locator(".tool-call .tool-result")).to_have_count(len(tools))
    expect(tree.locator('.span-row[aria-current="true"]')).to_have_count(1)

    # The arrow keys walk the tree; the panel follows.
    tree.locator(".span-row").first.focus()
    page.keyboard.press("ArrowDown")
    expect(panel.locator(".panel-head h2")).to_have_text("chat gpt-4o")

    page.get_by_role("link", name=session_id).click()
    page.wait_for_url(re.compile(rf"/sessions/{session_id}$"))
    expect(page.locator(".turn")).to_have_count(1)
