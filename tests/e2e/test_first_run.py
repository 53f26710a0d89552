"""A new user's first minutes, in a real browser."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_setup_login_project_and_api_key_shown_once(page, live):
    page.goto("/")
    page.wait_for_url(re.compile(r"/setup$"))
    page.get_by_label("Organisation").fill("Acme")
    page.get_by_label("E-mail").fill("ada@example.com")
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Create administrator").click()
    page.wait_for_url(re.compile(r"/settings/projects$"))

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    page.get_by_label("E-mail").fill("ada@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong e-mail or password")
    # The refused form was swapped in; it is settled once its autofocus has moved to the e-mail field.
    expect(page.get_by_label("E-mail")).to_be_focused()
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/settings/projects$"))

    page.get_by_label("Project name").fill("Support bot")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r"/projects/\d+/settings$"))
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Traces")

    page.get_by_label("Key name").fill("production")
    page.get_by_role("button", name="Create API key").click()
    key = page.get_by_test_id("new-api-key").inner_text()
    assert key.startswith("sx_")
    expect(page.locator("#api-keys")).to_contain_text(key[:10])
    # Beside the key: a copy button and the first trace's snippets, with this key and this server.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy key").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key
    expect(page.locator("#snippet-otlp")).to_contain_text(f"OTEL_EXPORTER_OTLP_ENDPOINT={live.url}")
    expect(page.locator("#snippet-otlp")).to_contain_text(f"Bearer%20{key}")
    expect(page.locator("#snippet-rest")).to_contain_text(f"{live.url}/api/v1/traces")

    page.reload()
    expect(page.locator("#api-keys")).to_contain_text(key[:10])
    assert key not in page.content()
    assert live.sql("SELECT count(*) FROM api_key WHERE key_hash = %s", (key,))[0][0] == 0


def test_setup_page_is_gone_once_done_and_anonymous_pages_redirect(page, live):
    page.goto("/setup")
    page.get_by_label("Organisation").fill("Acme")
    page.get_by_label("E-mail").fill("ada@example.com")
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Create administrator").click()
    page.wait_for_url(re.compile(r"/settings/projects$"))
    response = page.goto("/setup")
    assert response.status == 404
    page.context.clear_cookies()
    page.goto("/settings/projects")
    page.wait_for_url(re.compile(r"/login\?next="))
