"""The board and the issue page, in-process: columns, cards, moves, escaping, queries per page."""

import re
from datetime import datetime, timedelta, timezone

import pytest

from app.evals.models import EvaluatorVersion
from app.issues import repository, service
from tests.factories import PASSWORD
from tests.issues.helpers import evaluator, label, put_in_state, results, traces_at
from tests.queries import page_statements

HOSTILE = '<script>alert("x")</script>'



@pytest.fixture
def signed_in(client, factory):
    user = factory.user("annotator")
    client.login(user.email, PASSWORD)
    return client


def column(html: str, state: str) -> str:
    """The HTML of one board column."""
    start = html.index(f'<div class="board-cards" data-state="{state}"')
    end = html.find('<section class="board-column"', start)
    return html[start:end if end != -1 else None]


def test_board_shows_cards_in_state_columns_with_their_figures(db, signed_in, project):
    today = datetime.now(timezone.utc).replace(hour=0, minute=1, second=0, microsecond=0)
    refunds = put_in_state(db, service.create_issue(db, project.id, "Invents refunds", actor="test"), "ongoing")
    service.create_issue(db, project.id, "Wrong language", actor="test")
    traces = traces_at(db, project, [today, today, today - timedelta(days=2)])
    for trace in traces:
        label(db, project, trace, "fail", "made-up refund", [refunds.id])
    _, version = evaluator(db, project, refunds, mcc=0.72, ci=(0.55, 0.85))
    results(db, version, traces[:1])

    html = signed_in.get(f"/projects/{project.id}/issues").text
    ongoing, new = column(html, "ongoing"), column(html, "new")
    assert "Invents refunds" in ongoing and "Wrong language" not in ongoing
    assert "Wrong language" in new
    assert "3 occurrences" in ongoing and "MCC 0.72" in ongoing and "not fit for gating" not in ongoing
    assert "no evaluator" in new
    points = re.search(r'<polyline fill="none" points="([^"]+)"', ongoing).group(1).split()
    assert len(points) == 14 and points[-1].endswith(",1.0")  # today is the peak
    # The keyboard alternative lists exactly the moves a person may make.
    assert re.findall(r'>(\w+)…?</button>', ongoing) == ["Resolved", "Ignored"]


def test_titles_feedback_and_definitions_are_escaped(db, signed_in, project):
    issue = service.create_issue(db, project.id, HOSTILE, actor="test", description=HOSTILE)
    [trace] = traces_at(db, project, [datetime.now(timezone.utc)], output=HOSTILE)
    label(db, project, trace, "fail", f"feedback {HOSTILE}", [issue.id])
    for url in (f"/projects/{project.id}/issues", f"/projects/{project.id}/issues/{issue.id}"):
        html = signed_in.get(url).text
        assert HOSTILE not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    move = signed_in.get(f"/projects/{project.id}/issues/{issue.id}/move?to=resolved").text
    assert HOSTILE not in move


def test_issue_page_shows_examples_negatives_evaluators_and_history(db, signed_in, factory, project):
    issue = service.create_issue(db, project.id, "Invents refunds", actor="test", description="Quotes a policy")
    failing, passing, undecided = traces_at(db, project, [datetime.now(timezone.utc)] * 3)
    label(db, project, failing, "fail", "promised a 90-day refund window", [issue.id])
    label(db, project, passing, "pass")
    label(db, project, undecided, "pass", annotator="import:a")
    label(db, project, undecided, "fail", "maybe", annotator="import:b")
    evaluator(db, project, issue, mcc=0.5, ci=(0.2, 0.7))
    triager = factory.user("annotator", email="ada@example.com")
    service.transition(db, issue, "ongoing", actor=f"user:{triager.id}", actor_kind="user", reason="triaged")

    html = signed_in.get(f"/projects/{project.id}/issues/{issue.id}").text
    assert "promised a 90-day refund window" in html
    assert f'href="/projects/{project.id}/traces/{failing.id}"' in html
    assert f'href="/projects/{project.id}/traces/{passing.id}"' in html
    assert f'href="/projects/{project.id}/traces/{undecided.id}"' not in html  # a tie is no negative
    assert "not fit for gating" in html and "0.50" in html
    assert "triaged" in html and "created it" in html
    assert '<span class="actor">ada@example.com</span>' in html


def test_an_evaluator_never_activated_shows_its_latest_ready_version(db, signed_in, project):
    issue = service.create_issue(db, project.id, "Invents refunds", actor="test")
    candidate, first = evaluator(db, project, issue, mcc=0.3, ci=(0.1, 0.5), active=False, name="candidate")
    candidate.active_version_id = None
    db.add(EvaluatorVersion(evaluator_id=candidate.id, number=2, status="ready", mcc=0.85, mcc_ci_low=0.7,
                            mcc_ci_high=0.95))
    db.add(EvaluatorVersion(evaluator_id=candidate.id, number=3, status="pending"))
    db.flush()

    html = signed_in.get(f"/projects/{project.id}/issues/{issue.id}").text
    row = html[html.index(f'href="/projects/{project.id}/evaluators/{candidate.id}"'):]
    row = row[:row.index("</tr>")]
    assert "v2" in row and "not activated" in row and "0.85" in row and "fit for gating" in row
    card = signed_in.get(f"/projects/{project.id}/issues").text
    assert "MCC 0.85" in card and "not running" in card
    [figure] = signed_in.get(f"/api/v1/issues/{issue.id}?project_id={project.id}").json()["evaluators"]
    assert (figure["version"], figure["version_is_active"], figure["active"]) == (2, False, False)


def test_moving_a_card_from_the_board_rerenders_the_board(db, signed_in, project):
    issue = service.create_issue(db, project.id, "Wrong language", actor="test")
    response = signed_in.form(f"/projects/{project.id}/issues/{issue.id}/transition",
                              {"to_state": "ongoing", "view": "board", "sort": "trend"})
    assert response.status_code == 200
    assert response.headers["hx-retarget"] == "#board" and response.headers["hx-trigger"] == "issue-moved"
    assert "Wrong language" in column(response.text, "ongoing")
    assert repository.events_of(db, issue.id)[-1].actor.startswith("user:")


def test_an_illegal_move_answers_409_with_the_allowed_targets(db, signed_in, project):
    issue = service.create_issue(db, project.id, "Wrong language", actor="test")
    db.commit()
    response = signed_in.form(f"/projects/{project.id}/issues/{issue.id}/transition",
                              {"to_state": "escalating", "view": "board"})
    assert response.status_code == 409
    assert response.headers["hx-retarget"] == "#flash"
    assert "allowed: ongoing, resolved, ignored" in response.text
    db.refresh(issue)
    assert issue.state == "new"


def test_resolving_asks_for_a_note_and_keeps_the_form_open(db, signed_in, project):
    issue = service.create_issue(db, project.id, "Wrong language", actor="test")
    db.commit()
    form = signed_in.get(f"/projects/{project.id}/issues/{issue.id}/move?to=resolved&view=board").text
    assert "What was fixed, and in which release?" in form
    refused = signed_in.form(f"/projects/{project.id}/issues/{issue.id}/transition",
                             {"to_state": "resolved", "view": "board", "from_form": "1", "reason": " "})
    assert refused.status_code == 422 and "needs a reason" in refused.text and 'name="reason"' in refused.text
    done = signed_in.form(f"/projects/{project.id}/issues/{issue.id}/transition",
                          {"to_state": "resolved", "view": "issue", "from_form": "1", "reason": "fixed in 2.4.1"})
    assert done.status_code == 204 and done.headers["hx-redirect"] == f"/projects/{project.id}/issues/{issue.id}"
    assert repository.events_of(db, issue.id)[-1].reason == "fixed in 2.4.1"


def test_filters_and_sort(db, signed_in, project):
    busy = put_in_state(db, service.create_issue(db, project.id, "Busy one", actor="test"), "ongoing")
    service.create_issue(db, project.id, "Quiet one", actor="test", description="about French replies")
    for trace in traces_at(db, project, [datetime.now(timezone.utc)] * 2):
        label(db, project, trace, "fail", "x", [busy.id])
    evaluator(db, project, busy)

    def titles(query):
        html = signed_in.get(f"/projects/{project.id}/issues?{query}", headers={"HX-Request": "true",
                                                                              "HX-Target": "board"}).text
        assert html.lstrip().startswith('<div id="board"')  # a partial for HTMX
        return re.findall(r'class="issue-title"[^>]*>([^<]+)<', html)

    assert titles("q=french") == ["Quiet one"]
    assert titles("state=ongoing") == ["Busy one"]
    assert titles("has_evaluator=no") == ["Quiet one"]
    assert titles("has_evaluator=yes&state=new") == []
    assert set(titles("sort=occurrences")) == {"Busy one", "Quiet one"}


def test_editing_the_title_and_definition(db, signed_in, project):
    issue = service.create_issue(db, project.id, "Wrong language", actor="test")
    response = signed_in.form(f"/projects/{project.id}/issues/{issue.id}/edit",
                              {"title": "Replies in the wrong language", "description": "French to English users"})
    assert response.status_code == 204
    assert (issue.title, issue.description) == ("Replies in the wrong language", "French to English users")
    assert "title: Wrong language → Replies in the wrong language" in repository.events_of(db, issue.id)[-1].reason
    db.commit()
    blank = signed_in.form(f"/projects/{project.id}/issues/{issue.id}/edit", {"title": " ", "description": ""})
    assert blank.status_code == 422 and "title" in blank.text


def test_creating_an_issue_from_the_board(db, signed_in, project):
    response = signed_in.form(f"/projects/{project.id}/issues", {"title": "Too long", "description": "Over 300 words"})
    assert response.status_code == 204
    [issue] = repository.open_issues(db, project.id)
    assert response.headers["hx-redirect"] == f"/projects/{project.id}/issues/{issue.id}"


def test_the_board_costs_the_same_queries_for_3_or_12_issues(db, signed_in, project):
    def add_issues(n):
        for _ in range(n):
            issue = service.create_issue(db, project.id, f"Issue {len(repository.open_issues(db, project.id))}",
                                         actor="test")
            [trace] = traces_at(db, project, [datetime.now(timezone.utc)])
            label(db, project, trace, "fail", "x", [issue.id])
            _, version = evaluator(db, project, issue)
            results(db, version, [trace])

    add_issues(3)
    signed_in.get(f"/projects/{project.id}/issues")  # warm up: first-request loads are not the board's
    few = page_statements(db, signed_in, f"/projects/{project.id}/issues")
    add_issues(9)
    many = page_statements(db, signed_in, f"/projects/{project.id}/issues")
    assert len(few) == len(many) <= 12, "\n\n".join(many if len(many) > len(few) else few)
