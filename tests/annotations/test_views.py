"""The annotation pages in-process: queue list and form, the workbench by HTMX posts, adjudication."""

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from app import loop
from app.annotations import repository, service
from app.annotations.models import Adjudication, Annotation, AnnotationRevision, QueueItem, QueueLock
from app.annotations.service import Judgement, QueueSpec
from app.issues import service as issues
from app.issues.models import Issue
from app.traces.models import Trace
from tests.factories import PASSWORD
from tests.queries import page_statements



@pytest.fixture
def admin(factory):
    return factory.user("admin")


@pytest.fixture
def annotator(factory):
    return factory.user("annotator")


def make_queue(db, project, admin, n_traces=0, **spec):
    queue = service.create_queue(db, project, QueueSpec(name=spec.pop("name", "Refunds"), **spec), actor=admin)
    if n_traces:
        service.add_traces(db, queue, [t.id for t in _traces(db, project, n_traces)])
    return queue


def _traces(db, project, n):
    from tests.factories import Factory

    return Factory(db).traces(project, n)


def judge(db, project, queue, user, trace_id, verdict="pass", feedback="", **extra):
    return loop.record_annotation(db, project.id, trace_id, Judgement(verdict, feedback, **extra),
                                   annotator=service.annotator_key(user), author=user, queue=queue)


def base(queue) -> str:
    return f"/projects/{queue.project_id}/queues/{queue.id}"


def shown_item_id(response) -> int:
    return int(re.search(r'data-item-id="(\d+)"', response.text).group(1))


def queue_form(**fields) -> dict:
    return {"name": "Refund answers", "instructions": "", "annotators_per_item": "1",
            "sampling_percent": "100", "cap": "", **fields}


# ---------------------------------------------------------------------------
# Queue list, form, fill


def test_queue_list_shows_progress_annotators_and_who_may_start(db, client, make_client, factory, project,
                                                                admin, annotator):
    queue = make_queue(db, project, admin, 3, live=True)
    first = service.next_item(db, queue, annotator)
    judge(db, project, queue, annotator, first.trace_id)
    service.next_item(db, queue, annotator)  # holds the next one: active now

    client.login(admin.email, PASSWORD)
    page = client.get(f"/projects/{project.id}/queues")
    assert page.status_code == 200
    assert "Refunds" in page.text and ">live<" in page.text
    assert re.search(r"<strong>1</strong> / 3 done", page.text)
    assert annotator.email in page.text  # per-annotator count and "active now"
    assert "Active now" in page.text
    assert f"{base(queue)}/annotate" in page.text and "New queue" in page.text

    viewer = make_client()
    viewer.login(factory.user("viewer").email, PASSWORD)
    page = viewer.get(f"/projects/{project.id}/queues")
    assert "Refunds" in page.text
    assert f"{base(queue)}/annotate" not in page.text and "New queue" not in page.text


def test_the_queue_list_costs_the_same_queries_for_one_or_five_queues(db, client, factory, project, admin,
                                                                      annotator):
    def busy_queue(name, worker, members=()):
        queue = make_queue(db, project, admin, 2, name=name, member_ids=list(members))
        judge(db, project, queue, worker, service.next_item(db, queue, worker).trace_id)
        service.next_item(db, queue, worker)  # held: someone is active
        return queue

    busy_queue("First", annotator)
    client.login(annotator.email, PASSWORD)
    url = f"/projects/{project.id}/queues"
    one = page_statements(db, client, url)
    other = factory.user("annotator")
    queues = [busy_queue(f"Queue {i}", other, members=[other.id]) if i % 2 else busy_queue(f"Queue {i}", annotator)
              for i in range(4)]
    five = page_statements(db, client, url)
    assert len(one) == len(five), "\n\n".join(five)
    page = client.get(url).text
    for i, queue in enumerate(queues):  # a members-only queue offers no Start to others
        assert (f"{base(queue)}/annotate" in page) is (i % 2 == 0)
    assert page.count("Active now") == 5


def test_creating_a_queue_fills_it_from_the_filter_and_says_how_many(db, client, factory, project, admin):
    factory.traces(project, 6, environment="prod")
    factory.traces(project, 2, environment="dev")
    client.login(admin.email, PASSWORD)
    assert client.get(f"/projects/{project.id}/queues/new").status_code == 200
    response = client.form(f"/projects/{project.id}/queues",
                           queue_form(filter_environment="prod", cap="4", instructions="Check **refunds**"))
    assert response.status_code == 204
    target = response.headers["HX-Redirect"]
    assert target.endswith("?added=4")
    page = client.get(target)
    assert "Added 4 traces" in page.text and "<strong>refunds</strong>" in page.text
    queue = repository.queues_of(db, project.id)[0]
    assert queue.filter == {"environment": "prod"} and queue.cap == 4


def label(db, project, trace, verdict: str) -> None:
    """An imported label, outside any queue."""
    db.add(Annotation(project_id=project.id, trace_id=trace.id, annotator="import:labels", verdict=verdict,
                      feedback="wrong" if verdict == "fail" else ""))
    db.flush()


def queued_trace_ids(db, queue) -> set[int]:
    return set(db.scalars(select(QueueItem.trace_id).where(QueueItem.queue_id == queue.id)))


def test_a_queue_fills_from_a_saved_filter_on_annotations(db, client, factory, project, admin):
    traces = factory.traces(project, 4, environment="prod")
    label(db, project, traces[0], "fail")
    label(db, project, traces[1], "pass")
    client.login(admin.email, PASSWORD)
    response = client.form(f"/projects/{project.id}/queues", queue_form(filter_annotated="no"))
    assert response.headers["HX-Redirect"].endswith("?added=2")
    queue = repository.queues_of(db, project.id)[0]
    assert queue.filter == {"annotated": "no"} and queued_trace_ids(db, queue) == {traces[2].id, traces[3].id}
    edit = client.get(f"{base(queue)}/edit").text
    # Kept when the queue is edited.
    assert re.search(r'<select name="filter_annotated"[^>]*>.*?<option value="no"\s+selected>', edit, re.S)


def test_a_live_queue_is_not_filled_at_creation(db, client, factory, project, admin):
    factory.traces(project, 3, environment="prod")
    client.login(admin.email, PASSWORD)
    response = client.form(f"/projects/{project.id}/queues",
                           queue_form(filter_environment="prod", live="on"))
    assert response.status_code == 204 and "added" not in response.headers["HX-Redirect"]
    queue = repository.queues_of(db, project.id)[0]
    assert queue.live and repository.progress(db, queue.id) == (0, 0)


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"annotators_per_item": "7"}, 422, "between 1 and 5"),
    ({"annotators_per_item": "two"}, 422, "whole number"),
    ({"sampling_percent": "0"}, 422, "sampling rate"),
    ({"sampling_percent": "lots"}, 422, "percentage"),
    ({"cap": "-3"}, 422, "cap"),
    ({"name": "  "}, 422, "Queue name"),
    ({"filter_start_from": "yesterday"}, 422, "date and time"),
    ({"filter_status": "broken"}, 422, "status"),
    ({"filter_annotated": "maybe"}, 422, "(annotated) must be yes, no, fail or pass"),
    ({"filter_q": "refund\x00"}, 422, "Words in input or output (q) must not contain NUL characters"),
])
def test_a_refused_queue_form_comes_back_in_place_as_typed(client, project, admin, fields, status, message):
    client.login(admin.email, PASSWORD)
    sent = queue_form(instructions="Keep <this> text", **fields)
    response = client.form(f"/projects/{project.id}/queues", sent)
    assert response.status_code == status
    assert 'id="queue-form"' in response.text and "<html" not in response.text
    assert message.lower() in response.text.lower()
    assert "Keep &lt;this&gt; text" in response.text


def test_a_duplicate_queue_name_is_a_conflict_shown_in_place(db, client, project, admin):
    make_queue(db, project, admin, name="Refund answers")
    client.login(admin.email, PASSWORD)
    response = client.form(f"/projects/{project.id}/queues", queue_form())
    assert response.status_code == 409 and "already exists" in response.text


def test_members_must_be_annotators_or_admins(db, client, factory, project, admin):
    viewer = factory.user("viewer")
    client.login(admin.email, PASSWORD)
    page = client.get(f"/projects/{project.id}/queues/new")
    assert admin.email in page.text and viewer.email not in page.text
    response = client.form(f"/projects/{project.id}/queues", queue_form(member_ids=[str(viewer.id)]))
    assert response.status_code == 422 and "cannot annotate" in response.text


def test_editing_a_queue_and_filling_it_again(db, client, factory, project, admin, annotator):
    queue = make_queue(db, project, admin, filter={"environment": "prod"})
    factory.traces(project, 3, environment="prod")
    factory.traces(project, 2, environment="dev")
    client.login(admin.email, PASSWORD)
    page = client.get(f"{base(queue)}/edit")
    assert 'value="prod"' in page.text
    response = client.form(f"{base(queue)}/edit", queue_form(name="Refunds v2", filter_environment="dev",
                                                             member_ids=[str(annotator.id)],
                                                             filter_start_from="2025-12-31T00:00"))
    assert response.status_code == 204
    db.refresh(queue)
    assert queue.name == "Refunds v2"
    assert queue.filter == {"environment": "dev", "start_from": "2025-12-31T00:00:00+00:00"}
    assert repository.member_ids(db, queue.id) == [annotator.id]
    filled = client.form(f"{base(queue)}/fill")
    assert filled.status_code == 200 and "Added 2 traces" in filled.text
    assert "Added 0 traces" in client.form(f"{base(queue)}/fill").text  # never twice
    assert 'value="2025-12-31T00:00"' in client.get(f"{base(queue)}/edit").text


def test_renaming_onto_another_queues_name_is_refused_in_place(db, client, project, admin):
    make_queue(db, project, admin, name="Taken")
    queue = make_queue(db, project, admin, name="Mine")
    client.login(admin.email, PASSWORD)
    response = client.form(f"{base(queue)}/edit", queue_form(name="Taken"))
    assert response.status_code == 409 and "already exists" in response.text


def test_instructions_are_markdown_with_html_escaped(db, client, project, admin, annotator):
    queue = make_queue(db, project, admin, 1, instructions=(
        "# Rules\n\n<script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)>"))
    client.login(annotator.email, PASSWORD)
    page = client.get(f"{base(queue)}/annotate", follow_redirects=True)
    assert "<h1>Rules</h1>" in page.text
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
    assert 'href="javascript:' not in page.text and "<img src=x" not in page.text


# ---------------------------------------------------------------------------
# Adding from the explorer


def test_adding_selected_traces_and_all_matching(db, client, factory, project, admin):
    queue = make_queue(db, project, admin)
    chosen = factory.traces(project, 2)
    factory.traces(project, 3, environment="staging")
    client.login(admin.email, PASSWORD)
    response = client.form(f"{base(queue)}/add", {"trace_ids": [str(t.id) for t in chosen]})
    assert response.status_code == 200 and "Added 2 traces" in response.text
    response = client.form(f"{base(queue)}/add?environment=staging", {"matching": "1"})
    assert "Added 3 traces" in response.text
    response = client.form(f"{base(queue)}/add?environment=staging&range=24h", {"matching": "1"})
    assert "Added 0 traces" in response.text  # the factory's traces are from 2026-01-01, not today
    assert repository.progress(db, queue.id) == (0, 5)
    plain = client.form(f"{base(queue)}/add", {"trace_ids": [str(chosen[0].id)]}, htmx=False)
    assert plain.status_code == 303 and plain.headers["location"].endswith("?added=0")


def test_adding_all_matching_unannotated_traces(db, client, factory, project, admin):
    queue = make_queue(db, project, admin)
    traces = factory.traces(project, 5)
    label(db, project, traces[0], "fail")
    label(db, project, traces[1], "pass")
    [elsewhere] = factory.traces(factory.project(), 1)  # another project's: never added
    client.login(admin.email, PASSWORD)
    response = client.form(f"{base(queue)}/add?annotated=no", {"matching": "1", "limit": "2"})
    assert "Added 2 traces" in response.text
    newest = {traces[4].id, traces[3].id}  # "all matching" takes the newest first
    assert queued_trace_ids(db, queue) == newest
    response = client.form(f"{base(queue)}/add?annotated=no&sort=cost", {"matching": "1"})
    assert "Added 1 trace " in response.text
    assert queued_trace_ids(db, queue) == {traces[2].id, *newest} and elsewhere.id not in queued_trace_ids(db, queue)
    response = client.form(f"{base(queue)}/add?annotated=fail", {"matching": "1"})
    assert "Added 1 trace " in response.text and traces[0].id in queued_trace_ids(db, queue)
    assert client.form(f"{base(queue)}/add?annotated=maybe", {"matching": "1"}).status_code == 422


def test_adding_another_projects_trace_or_nothing_is_refused(db, client, factory, project, admin):
    queue = make_queue(db, project, admin)
    [theirs] = factory.traces(factory.project(), 1)
    client.login(admin.email, PASSWORD)
    assert client.form(f"{base(queue)}/add", {"trace_ids": [str(theirs.id)]}).status_code == 404
    assert client.form(f"{base(queue)}/add", {}).status_code == 422
    assert client.form(f"{base(queue)}/add?status=sideways", {"matching": "1"}).status_code == 422


# ---------------------------------------------------------------------------
# The workbench


def test_start_takes_the_next_item_and_shows_its_conversation(db, client, project, admin, annotator):
    queue = make_queue(db, project, admin, 2, instructions="Be strict")
    client.login(annotator.email, PASSWORD)
    response = client.get(f"{base(queue)}/annotate")
    assert response.status_code == 303
    item_path = response.headers["location"]
    assert re.fullmatch(rf"{base(queue)}/items/\d+", item_path)
    page = client.get(item_path)
    assert page.status_code == 200 and 'id="workbench"' in page.text
    item = db.get(QueueItem, shown_item_id(page))
    trace_input = db.get(Trace, item.trace_id).input
    assert f"<div class=\"msg-content\">{trace_input}</div>" in page.text
    assert "Be strict" in page.text and 'hx-trigger="every 60s"' in page.text
    assert f'hx-get="{base(queue)}/progress"' in page.text
    progress = client.get(f"{base(queue)}/progress", headers={"HX-Request": "true"})
    assert re.search(r'<strong data-testid="done">0</strong> / 2 done', progress.text)


def test_failure_modes_show_their_definitions_escaped(db, client, project, admin, annotator):
    issues.create_issue(db, project.id, "Invents a refund window", actor="test",
                        description="Promises <b>any</b> refund window the policy lacks.")
    queue = make_queue(db, project, admin, 1)
    client.login(annotator.email, PASSWORD)
    page = client.get(client.get(f"{base(queue)}/annotate").headers["location"]).text
    definition = page[page.index('class="failure-definition"'):]
    assert definition.startswith('class="failure-definition">Promises &lt;b&gt;any&lt;/b&gt; refund window')


def test_the_conversation_is_the_last_llm_calls_messages_with_tool_calls(db, client, factory, project, admin,
                                                                         annotator):
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    first = {"id": "a", "name": "plan", "kind": "llm", "start_time": at,
             "input_messages": [{"role": "user", "content": "first prompt"}],
             "output_messages": [{"role": "assistant", "content": "", "tool_calls": [
                 {"id": "c1", "name": "lookup_order", "arguments": '{"order": 42}'}]}]}
    last = {"id": "b", "name": "answer", "kind": "llm", "start_time": at.replace(second=5),
            "system": "You are the <b>support</b> bot",
            "input_messages": [{"role": "user", "content": "Where is order 42?"},
                               {"role": "tool", "content": "shipped", "tool_call_id": "c1"}],
            "output_messages": [{"role": "assistant", "content": "It shipped <script>x()</script>"}]}
    [trace] = factory.traces(project, 1, spans=[first, last])
    queue = make_queue(db, project, admin)
    service.add_traces(db, queue, [trace.id])
    client.login(annotator.email, PASSWORD)
    page = client.get(f"{base(queue)}/annotate", follow_redirects=True)
    assert "Where is order 42?" in page.text and "first prompt" not in page.text
    assert "You are the &lt;b&gt;support&lt;/b&gt; bot" in page.text
    assert "It shipped &lt;script&gt;x()&lt;/script&gt;" in page.text and "<script>x()" not in page.text


def test_submitting_by_htmx_swaps_in_the_next_item_and_pushes_its_url(db, client, project, admin, annotator):
    queue = make_queue(db, project, admin, 3)
    client.login(annotator.email, PASSWORD)
    first = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    response = client.form(f"{base(queue)}/items/{first}", {"verdict": "pass", "feedback": ""})
    assert response.status_code == 200 and "<html" not in response.text
    second = shown_item_id(response)
    assert second != first
    assert response.headers["HX-Push-Url"] == f"{base(queue)}/items/{second}"
    progress = client.get(f"{base(queue)}/progress", headers={"HX-Request": "true"}).text
    assert re.search(r'<strong data-testid="done">1</strong> / 3 done', progress)
    assert re.search(r'<strong data-testid="mine">1</strong> by you', progress)
    assert db.query(Annotation).one().verdict == "pass"


def test_fail_without_feedback_is_refused_in_place_keeping_what_was_typed(db, client, project, admin, annotator):
    queue = make_queue(db, project, admin, 2)
    issue = Issue(project_id=project.id, title="Invents a policy")
    db.add(issue)
    db.flush()
    client.login(annotator.email, PASSWORD)
    item_id = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    response = client.form(f"{base(queue)}/items/{item_id}",
                           {"verdict": "fail", "feedback": "   ", "issue_ids": [str(issue.id)],
                            "new_issue": "Too <long>"})
    assert response.status_code == 422
    assert shown_item_id(response) == item_id and "HX-Push-Url" not in response.headers
    assert "Feedback is required when a trace fails" in response.text
    assert 'id="feedback-error"' in response.text and "autofocus" in response.text
    assert re.search(rf'value="{issue.id}"\s+data-shortcut="1"\s+checked', response.text)
    assert 'value="Too &lt;long&gt;"' in response.text
    assert db.query(Annotation).count() == 0 and db.query(Issue).count() == 1


def test_a_pass_with_failure_modes_is_refused_rather_than_dropping_them(db, client, project, admin, annotator):
    queue = make_queue(db, project, admin, 1)
    client.login(annotator.email, PASSWORD)
    item_id = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    response = client.form(f"{base(queue)}/items/{item_id}", {"verdict": "pass", "new_issue": "Rude"})
    assert response.status_code == 422 and "choose fail" in response.text
    response = client.form(f"{base(queue)}/items/{item_id}", {"feedback": "hm"})
    assert response.status_code == 422 and "Choose a verdict" in response.text


def test_a_fail_names_failure_modes_and_creates_new_ones_as_issues(db, client, project, admin, annotator):
    queue = make_queue(db, project, admin, 2)
    existing = Issue(project_id=project.id, title="Wrong order status")
    db.add(existing)
    db.flush()
    client.login(annotator.email, PASSWORD)
    item_id = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    response = client.form(f"{base(queue)}/items/{item_id}", {
        "verdict": "fail", "feedback": "Says shipped; it was not", "issue_ids": [str(existing.id)],
        "new_issue": "  Invents   tracking numbers ", "corrected_output": "It has not shipped yet."})
    assert response.status_code == 200
    created = db.query(Issue).filter(Issue.title == "Invents tracking numbers").one()
    annotation = db.query(Annotation).one()
    assert set(repository.issue_ids_of(db, annotation.id)) == {existing.id, created.id}
    assert annotation.corrected_output == "It has not shipped yet."
    db.refresh(existing)
    assert existing.last_seen is not None  # the label reached the issue (an occurrence)
    assert re.search(rf'value="{created.id}"\s+data-shortcut="2"', response.text)  # now pickable


def test_skip_moves_on_and_the_end_of_the_queue_says_so_with_progress(db, client, project, admin, annotator):
    queue = make_queue(db, project, admin, 2)
    client.login(annotator.email, PASSWORD)
    first = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    response = client.form(f"{base(queue)}/items/{first}/skip")
    second = shown_item_id(response)
    assert second != first
    response = client.form(f"{base(queue)}/items/{second}", {"verdict": "pass"})
    assert response.status_code == 200 and 'data-testid="queue-done"' in response.text
    assert "Nothing left for you" in response.text and "1 of 2 items are done" in response.text
    assert response.headers["HX-Push-Url"] == f"{base(queue)}/annotate"
    assert client.get(f"{base(queue)}/annotate").status_code == 200  # the full page says so too


def test_skipped_items_are_listed_and_can_be_taken_back(db, client, project, admin, annotator):
    queue = make_queue(db, project, admin, 3)
    client.login(annotator.email, PASSWORD)
    first = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    second = shown_item_id(client.form(f"{base(queue)}/items/{first}/skip"))
    third = shown_item_id(client.form(f"{base(queue)}/items/{second}/skip"))
    assert third not in (first, second)
    progress = client.get(f"{base(queue)}/progress", headers={"HX-Request": "true"}).text
    assert re.search(r'data-testid="skipped-link">skipped \(2\)</a>', progress)

    listed = client.get(f"{base(queue)}/skipped")
    assert listed.status_code == 200
    assert re.findall(r'<tr data-item-id="(\d+)">', listed.text) == [str(first), str(second)]
    back = client.form(f"{base(queue)}/items/{second}/unskip")
    assert back.headers["HX-Redirect"] == f"{base(queue)}/items/{second}"
    assert re.findall(r'<tr data-item-id="(\d+)">', client.get(f"{base(queue)}/skipped").text) == [str(first)]
    # Taken back, it is offered by claims again once the item I hold is done.
    after_third = client.form(f"{base(queue)}/items/{third}", {"verdict": "pass"})
    assert shown_item_id(after_third) == second


def test_skipped_list_omits_items_others_finished_and_is_for_members_only(db, client, make_client, factory,
                                                                          project, admin, annotator):
    queue = make_queue(db, project, admin, 2)
    client.login(annotator.email, PASSWORD)
    first = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    client.form(f"{base(queue)}/items/{first}/skip")
    other = factory.user("annotator")
    item = db.get(QueueItem, first)
    judge(db, project, queue, other, item.trace_id)  # someone else finishes it
    assert 'data-testid="no-skipped"' in client.get(f"{base(queue)}/skipped").text
    viewer = make_client()
    viewer.login(factory.user("viewer").email, PASSWORD)
    assert viewer.get(f"{base(queue)}/skipped").status_code == 403


@pytest.mark.parametrize("sent, stored", [("12", 12), ("3.6", 4), ("-4", 0), ("99999", 1800), ("", None),
                                          ("soon", None)])
def test_time_on_an_item_is_stored_capped_and_unknown_when_not_measured(db, client, project, admin, annotator,
                                                                         sent, stored):
    queue = make_queue(db, project, admin, 1)
    client.login(annotator.email, PASSWORD)
    item_id = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    client.form(f"{base(queue)}/items/{item_id}", {"verdict": "pass", "seconds": sent})
    assert db.query(Annotation).one().seconds_spent == stored


def test_editing_adds_its_time_and_the_pace_is_my_median(db, client, project, admin, annotator):
    queue = make_queue(db, project, admin, 3)
    client.login(annotator.email, PASSWORD)
    first = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    second = shown_item_id(client.form(f"{base(queue)}/items/{first}", {"verdict": "pass", "seconds": "10"}))
    third = shown_item_id(client.form(f"{base(queue)}/items/{second}", {"verdict": "pass", "seconds": "40"}))
    client.form(f"{base(queue)}/items/{third}", {"verdict": "pass", "seconds": "25"})
    client.form(f"{base(queue)}/items/{first}", {"verdict": "pass", "seconds": "5"})  # an edit: 10 + 5
    spent = sorted(a.seconds_spent for a in db.query(Annotation))
    assert spent == [15, 25, 40]
    progress = client.get(f"{base(queue)}/progress", headers={"HX-Request": "true"}).text
    assert re.search(r'data-testid="pace"[^>]*>~25 s per item<', progress)  # median of 15, 25, 40


def test_previous_opens_my_earlier_annotation_prefilled_and_editing_keeps_history(db, client, project, admin,
                                                                                annotator):
    queue = make_queue(db, project, admin, 3)
    client.login(annotator.email, PASSWORD)
    first = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    second = shown_item_id(client.form(f"{base(queue)}/items/{first}",
                                       {"verdict": "fail", "feedback": "Rude tone"}))
    response = client.get(f"{base(queue)}/previous?before={second}", headers={"HX-Request": "true"})
    assert shown_item_id(response) == first
    assert response.headers["HX-Push-Url"] == f"{base(queue)}/items/{first}"
    assert 'value="fail" checked' in response.text and "Rude tone</textarea>" in response.text
    assert 'data-testid="editing"' in response.text
    nothing = client.get(f"{base(queue)}/previous?before={first}", headers={"HX-Request": "true"})
    assert nothing.status_code == 200 and "Nothing earlier" in nothing.text
    assert nothing.headers["HX-Retarget"] == "#flash"

    after_edit = client.form(f"{base(queue)}/items/{first}", {"verdict": "pass"})
    assert shown_item_id(after_edit) == second  # back to the item I was holding
    annotation = db.query(Annotation).one()
    assert annotation.verdict == "pass"
    [revision] = db.query(AnnotationRevision).all()
    assert revision.previous["verdict"] == "fail" and revision.previous["feedback"] == "Rude tone"


def test_lock_renewal_answers_no_content(db, client, project, admin, annotator):
    queue = make_queue(db, project, admin, 1)
    client.login(annotator.email, PASSWORD)
    item_id = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    assert client.form(f"{base(queue)}/items/{item_id}/lock").status_code == 204


def test_an_item_of_another_queue_or_project_is_not_found(db, client, factory, project, admin, annotator):
    queue = make_queue(db, project, admin, 1)
    other_queue = make_queue(db, project, admin, 1, name="Other")
    other_project = factory.project()
    foreign_queue = make_queue(db, other_project, admin, 1, name="Foreign")
    other_item = db.query(QueueItem).filter(QueueItem.queue_id == other_queue.id).one()
    client.login(annotator.email, PASSWORD)
    assert client.get(f"{base(queue)}/items/{other_item.id}").status_code == 404
    assert client.form(f"{base(queue)}/items/{other_item.id}", {"verdict": "pass"}).status_code == 404
    assert client.form(f"{base(queue)}/items/{other_item.id}/skip").status_code == 404
    foreign_item = db.query(QueueItem).filter(QueueItem.queue_id == foreign_queue.id).one()
    assert client.get(f"/projects/{project.id}/queues/{foreign_queue.id}/items/{foreign_item.id}").status_code == 404
    assert client.get(f"/projects/{project.id}/queues/{foreign_queue.id}/annotate").status_code == 404
    assert db.query(Annotation).count() == 0


def test_viewers_and_non_members_cannot_annotate(db, client, make_client, factory, project, admin, annotator):
    queue = make_queue(db, project, admin, 1)
    item = db.query(QueueItem).one()
    client.login(factory.user("viewer").email, PASSWORD)
    assert client.get(f"{base(queue)}/annotate").status_code == 403
    assert client.get(f"{base(queue)}/items/{item.id}").status_code == 403
    response = client.form(f"{base(queue)}/items/{item.id}", {"verdict": "pass"})
    assert response.status_code == 403 and response.headers["HX-Retarget"] == "#flash"
    assert client.get(f"{base(queue)}").status_code == 200  # viewers still see the queue page

    members_only = make_queue(db, project, admin, 1, name="Members only", member_ids=[admin.id])
    outsider = make_client()
    outsider.login(annotator.email, PASSWORD)
    assert outsider.get(f"{base(members_only)}/annotate").status_code == 403
    assert db.query(Annotation).count() == 0


# ---------------------------------------------------------------------------
# Agreement and adjudication


def test_queue_page_shows_agreement_with_item_counts_and_undefined_reasons(db, client, factory, project,
                                                                           admin):
    alice, bob = factory.user("annotator", email="alice@example.com"), factory.user("annotator",
                                                                                     email="bob@example.com")
    queue = make_queue(db, project, admin, 2, annotators_per_item=2)
    for item in db.query(QueueItem).all():
        judge(db, project, queue, alice, item.trace_id, "pass")
        judge(db, project, queue, bob, item.trace_id, "pass")
    client.login(admin.email, PASSWORD)
    assert f'hx-get="{base(queue)}/agreement"' in client.get(base(queue)).text
    page = client.get(f"{base(queue)}/agreement", headers={"HX-Request": "true"})
    assert "<strong>100.0%</strong>" in page.text and "n = 2" in page.text
    assert "Cohen&#39;s kappa" in page.text and "undefined" in page.text
    assert "chance agreement is 1" in page.text
    assert "alice@example.com · bob@example.com" in page.text


def test_labelling_is_blind_the_queue_page_shows_verdicts_to_admins_only(db, client, make_client, factory,
                                                                         project, admin):
    alice, bob, carol = (factory.user("annotator") for _ in range(3))
    queue = make_queue(db, project, admin, 2, annotators_per_item=3)
    disputed = db.query(QueueItem).order_by(QueueItem.id).first()
    judge(db, project, queue, alice, disputed.trace_id, "pass")
    judge(db, project, queue, bob, disputed.trace_id, "fail", "Invents a voucher code XQ-17")
    client.login(admin.email, PASSWORD)
    assert "Invents a voucher code XQ-17" in client.get(base(queue)).text  # the admin adjudicates
    for role_user in (carol, factory.user("viewer")):
        other = make_client()
        other.login(role_user.email, PASSWORD)
        page = other.get(base(queue))
        assert page.status_code == 200 and 'data-testid="blind"' in page.text
        assert "XQ-17" not in page.text and "q-vote" not in page.text
        assert f'hx-get="{base(queue)}/agreement"' not in page.text
        assert other.get(f"{base(queue)}/agreement", headers={"HX-Request": "true"}).status_code == 403


def test_admin_adjudicates_a_disagreement_and_it_becomes_the_label(db, client, make_client, factory, project,
                                                                   admin):
    alice, bob = factory.user("annotator"), factory.user("annotator")
    queue = make_queue(db, project, admin, 1, annotators_per_item=2)
    issue = Issue(project_id=project.id, title="Makes up a discount")
    db.add(issue)
    db.flush()
    item = db.query(QueueItem).one()
    judge(db, project, queue, alice, item.trace_id, "pass")
    judge(db, project, queue, bob, item.trace_id, "fail", "Offers 50% off", issue_ids=[issue.id])

    viewer = make_client()
    viewer.login(factory.user("viewer").email, PASSWORD)
    seen = viewer.get(base(queue))  # blind labelling: verdicts are for admins
    assert f'id="dispute-{item.trace_id}"' not in seen.text and "Offers 50% off" not in seen.text
    assert viewer.form(f"{base(queue)}/traces/{item.trace_id}/adjudicate", {"verdict": "fail"}).status_code == 403

    client.login(admin.email, PASSWORD)
    assert "Adjudicate</button>" in client.get(base(queue)).text
    refused = client.form(f"{base(queue)}/traces/{item.trace_id}/adjudicate", {"verdict": "maybe"})
    assert refused.status_code == 422 and "Choose a verdict" in refused.text
    response = client.form(f"{base(queue)}/traces/{item.trace_id}/adjudicate",
                           {"verdict": "fail", "issue_ids": [str(issue.id)], "note": "Policy says no discounts"})
    assert response.status_code == 200
    assert "label: fail" in response.text and "adjudicated" in response.text
    assert "Offers 50% off" in response.text  # the individual annotations stay visible
    label = service.labels_for_traces(db, [item.trace_id])[item.trace_id]
    assert (label.verdict, set(label.issue_ids), label.source) == ("fail", {issue.id}, "adjudicated")
    assert db.query(Adjudication).one().note == "Policy says no discounts"
    assert db.query(Annotation).count() == 2
    db.refresh(issue)
    assert issue.last_seen is not None
    assert f'id="dispute-{item.trace_id}"' not in client.get(base(queue)).text  # settled


def test_settled_disputes_are_listed_revisable_and_audited_and_the_note_becomes_the_feedback(
        db, client, factory, project, admin):
    from app.audit.models import AuditEvent
    from app.evals import service as evals

    alice, bob = factory.user("annotator"), factory.user("annotator")
    queue = make_queue(db, project, admin, 1, annotators_per_item=2)
    issue = Issue(project_id=project.id, title="Makes up a discount")
    db.add(issue)
    db.flush()
    item = db.query(QueueItem).one()
    judge(db, project, queue, alice, item.trace_id, "pass")
    judge(db, project, queue, bob, item.trace_id, "fail", "Offers 50% off", issue_ids=[issue.id])
    client.login(admin.email, PASSWORD)
    assert 'data-testid="none-settled"' in client.get(f"{base(queue)}/settled").text
    url = f"{base(queue)}/traces/{item.trace_id}/adjudicate"
    client.form(url, {"verdict": "fail", "issue_ids": [str(issue.id)], "note": "Discounts need a code"})
    [example] = evals.labelled_examples(db, project.id, issue.id)
    assert example["feedback"] == "Discounts need a code"  # not the annotators' superseded feedback

    revised = client.form(url, {"verdict": "pass", "note": "The 50% was a real promotion"})
    assert revised.status_code == 200 and "label: pass" in revised.text
    page = client.get(f"{base(queue)}/settled").text
    assert f'id="dispute-{item.trace_id}"' in page and "Offers 50% off" in page
    assert re.search(r'data-testid="settled-by">Settled pass by [^<]*· [^<]*· “The 50% was a real promotion”', page)
    assert "was fail (“Discounts need a code”), now pass" in page
    events = db.query(AuditEvent).filter(AuditEvent.target == f"trace:{item.trace_id}").order_by(AuditEvent.id).all()
    assert [e.action for e in events] == ["adjudication.created", "adjudication.revised"]
    assert events[0].data["previous"] is None and events[0].data["issue_ids"] == [issue.id]
    assert events[1].data["previous"]["note"] == "Discounts need a code"
    assert events[1].actor == f"user:{admin.id}"


def test_a_dispute_card_shows_the_trace_and_waits_for_missing_votes_unless_settled_early(
        db, client, factory, project, admin):
    alice, bob = factory.user("annotator"), factory.user("annotator")
    queue = make_queue(db, project, admin, 0, annotators_per_item=3)
    [trace] = factory.traces(project, 1)
    trace.input, trace.output = "Can I get <b>50%</b> off?", "Yes, use code HALF"
    db.flush()
    service.add_traces(db, queue, [trace.id])
    judge(db, project, queue, alice, trace.id, "pass")
    judge(db, project, queue, bob, trace.id, "fail", "No such code exists")
    client.login(admin.email, PASSWORD)
    page = client.get(base(queue)).text
    assert "Can I get &lt;b&gt;50%&lt;/b&gt; off?" in page and "Yes, use code HALF" in page
    assert re.search(r'data-testid="waiting">waiting for 1 more vote<', page)
    url = f"{base(queue)}/traces/{trace.id}/adjudicate"
    early = client.form(url, {"verdict": "fail", "note": "No code"})
    assert early.status_code == 409 and "waits for 1 more vote" in early.text
    assert db.query(Adjudication).count() == 0
    settled = client.form(url, {"verdict": "fail", "note": "No code", "early": "true"})
    assert settled.status_code == 200 and db.query(Adjudication).one().verdict == "fail"


def test_an_item_judged_in_another_queue_counts_there_and_never_leaves_a_queue_stuck(db, client, project, admin,
                                                                                       annotator):
    first = make_queue(db, project, admin, 2, name="First")
    traces = [item.trace_id for item in db.query(QueueItem).filter(QueueItem.queue_id == first.id)]
    for trace_id in traces:
        judge(db, project, first, annotator, trace_id, "pass")
    second = make_queue(db, project, admin, 0, name="Second")
    service.add_traces(db, second, traces + [_traces(db, project, 1)[0].id])
    items = {i.trace_id: i for i in db.query(QueueItem).filter(QueueItem.queue_id == second.id)}
    assert [(items[t].annotation_count, items[t].done) for t in traces] == [(1, True), (1, True)]
    client.login(annotator.email, PASSWORD)
    progress = client.get(f"{base(second)}/progress", headers={"HX-Request": "true"}).text
    assert re.search(r'<strong data-testid="done">2</strong> / 3 done', progress)
    last = shown_item_id(client.get(f"{base(second)}/annotate", follow_redirects=True))
    done = client.form(f"{base(second)}/items/{last}", {"verdict": "pass"})
    assert "Nothing left for you" in done.text and "3 of 3 items are done" in done.text


def test_adjudicating_a_trace_outside_the_queue_is_not_found(db, client, factory, project, admin):
    queue = make_queue(db, project, admin, 1)
    [outside] = factory.traces(project, 1)
    client.login(admin.email, PASSWORD)
    response = client.form(f"{base(queue)}/traces/{outside.id}/adjudicate", {"verdict": "pass"})
    assert response.status_code == 404


def test_an_item_left_behind_my_frontier_is_offered_once_nothing_is_past_it(db, client, make_client, factory,
                                                                           project, admin):
    alice, bob = factory.user("annotator"), factory.user("annotator")
    queue = make_queue(db, project, admin, 3)
    bob_client = make_client()
    bob_client.login(bob.email, PASSWORD)
    held_by_bob = shown_item_id(bob_client.get(f"{base(queue)}/annotate", follow_redirects=True))
    client.login(alice.email, PASSWORD)
    item_id = shown_item_id(client.get(f"{base(queue)}/annotate", follow_redirects=True))
    done = []
    while 'data-testid="queue-done"' not in (response := client.form(f"{base(queue)}/items/{item_id}",
                                                                      {"verdict": "pass"})).text:
        done.append(item_id)
        item_id = shown_item_id(response)
    done.append(item_id)
    assert held_by_bob not in done and len(done) == 2  # Alice's work now lies past Bob's item
    db.execute(QueueLock.__table__.update().values(locked_until=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    response = client.get(f"{base(queue)}/annotate", headers={"HX-Request": "true"})
    assert shown_item_id(response) == held_by_bob  # the lapsed hold comes back to the queue
