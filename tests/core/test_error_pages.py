"""Full-page errors for a signed-in user: the right status, inside the layout, saying what to do.

The request session is rolled back and closed before the error page renders (as in production,
see the `app` fixture), so a page that touched the request's ORM rows would fail here with 500.
"""

import html
import re

import pytest

from app.annotations import service as annotations
from app.annotations.service import QueueSpec
from app.evals.models import Evaluator
from app.issues import service as issues
from tests.factories import PASSWORD

HINTS = {403: "ask an admin of your organisation", 404: "The link may be mistyped or out of date",
         409: "Reload the page", 422: "Correct what the message names"}

# (path, {role: expected status}); {p} the project, {q} a queue, {e} a generated evaluator.
CASES = [
    ("/projects/{p}/settings", {"annotator": 403, "viewer": 403}),
    ("/settings/members", {"annotator": 403, "viewer": 403}),
    ("/projects/{p}/webhooks", {"annotator": 403, "viewer": 403}),
    ("/projects/{p}/evaluators/new", {"annotator": 403, "viewer": 403}),
    ("/projects/{p}/queues/{q}/annotate", {"viewer": 403}),
    ("/projects/{p}/traces/999999", {"admin": 404, "annotator": 404, "viewer": 404}),
    ("/projects/{p}/traces?range=zz", {"admin": 422, "annotator": 422, "viewer": 422}),
    ("/projects/{p}/evaluators/{e}/edit", {"admin": 409}),
    ("/projects/999999/traces", {"admin": 404, "viewer": 404}),
]
TABLE = [(path, role, status) for path, statuses in CASES for role, status in statuses.items()]


@pytest.fixture
def places(db, factory, project):
    admin = factory.user("admin")
    queue = annotations.create_queue(db, project, QueueSpec(name="Refunds"), actor=admin)
    issue = issues.create_issue(db, project.id, "Invents a refund window", actor="test")
    generated = Evaluator(project_id=project.id, issue_id=issue.id, name="Refund window", origin="generated")
    db.add(generated)
    db.flush()
    return {"p": project.id, "q": queue.id, "e": generated.id}


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.mark.parametrize("path,role,status", TABLE, ids=[f"{r}-{p}" for p, r, _ in TABLE])
def test_error_pages_render_in_the_layout_with_what_to_do(make_client, factory, project, places,
                                                          path, role, status):
    user = factory.user(role)
    browser = make_client()
    browser.login(user.email, PASSWORD)

    response = browser.get(path.format(**places))

    assert response.status_code == status, response.text[:300]
    page = response.text
    assert 'class="topbar"' in page and user.display_name in page  # the layout, signed in
    assert "Sign out" in page
    message = re.search(r'<p class="error-message">(.*?)</p>', page, re.S)
    assert message and message.group(1).strip()
    assert HINTS[status].lower() in text_of(page).lower()
    if path.startswith("/projects/{p}"):  # the project's own nav stays, refusals included
        assert f'href="/projects/{project.id}/traces"' in page and project.name in page


def test_an_htmx_error_is_a_flash_fragment_not_a_page(make_client, factory, project):
    browser = make_client()
    browser.login(factory.user("viewer").email, PASSWORD)
    response = browser.get(f"/projects/{project.id}/webhooks", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#flash" and 'class="topbar"' not in response.text


# ---------------------------------------------------------------------------
# Navigation: every link a role is shown leads somewhere that role may go.

NAV_PAGES = ["/settings/projects", "/projects/{p}/traces", "/projects/{p}/queues", "/projects/{p}/queues/{q}",
             "/projects/{p}/issues", "/projects/{p}/notifications", "/projects/{p}/evaluators",
             "/projects/{p}/evaluators/{e}", "/projects/{p}/dashboard"]


def links_in(page: str) -> set[str]:
    return {href for href in re.findall(r'href="(/[^"]*)"', page) if not href.startswith("/static/")}


@pytest.mark.parametrize("role", ["annotator", "viewer"])
def test_no_role_is_shown_a_link_it_may_not_follow(make_client, factory, project, places, role):
    browser = make_client()
    browser.login(factory.user(role).email, PASSWORD)
    shown = set()
    for path in NAV_PAGES:
        response = browser.get(path.format(**places))
        assert response.status_code == 200, path
        shown |= links_in(response.text)
    assert f"/projects/{project.id}/traces" in shown  # the crawl saw the project's nav
    refused = {href: browser.get(href).status_code for href in sorted(shown)}
    assert {href: status for href, status in refused.items() if status >= 400} == {}


def test_an_admin_sees_the_admin_links(client, factory, project, places):
    client.login(factory.user("admin").email, PASSWORD)
    page = client.get(f"/projects/{project.id}/issues").text
    assert f'href="/projects/{project.id}/settings"' in page and f'href="/projects/{project.id}/webhooks"' in page
