"""The trace explorer's HTML: list, filters, sorting, load more, trace detail, session view."""

import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.annotations.models import Annotation
from app.traces import repository, views
from app.traces.models import Span, Trace
from app.traces.views import span_tree
from tests.factories import PASSWORD
from tests.traces import taubench

HTMX = {"HX-Request": "true"}
NOW = datetime.now(timezone.utc).replace(microsecond=0)



@pytest.fixture
def auth(factory, project):
    return {"Authorization": f"Bearer {factory.api_key(project)}"}


@pytest.fixture
def viewer(client, factory):
    """The client, signed in as a viewer of the project's organisation."""
    client.login(factory.user("viewer").email, PASSWORD)
    return client


def send(client, auth, *traces):
    response = client.post("/api/v1/traces", json={"traces": list(traces)}, headers=auth)
    assert response.status_code == 200, response.text


def flat(trace_id, *, minutes_ago=0, seconds=1.0, **fields):
    start = NOW - timedelta(minutes=minutes_ago)
    return {"id": trace_id, "name": "answer", "input": f"question {trace_id}", "output": f"reply {trace_id}",
            "start_time": start.isoformat(), "end_time": (start + timedelta(seconds=seconds)).isoformat(),
            **fields}


def with_llm_span(trace_id, *, error=False, model="gpt-4o", tokens=(10, 5), cost=None, **fields):
    trace = flat(trace_id, **fields)
    trace["spans"] = [{"id": "llm", "name": "chat", "kind": "llm", "model": model, "start_time": trace["start_time"],
                       "end_time": trace["end_time"], "status": "error" if error else "ok",
                       "error": "rate limited" if error else None, "tokens_in": tokens[0],
                       "tokens_out": tokens[1], "cost": cost}]
    return trace


def minute(moment: datetime) -> str:
    """As a datetime-local field sends it."""
    return f"{moment:%Y-%m-%dT%H:%M}"


def list_page(client, project, query=""):
    response = client.get(f"/projects/{project.id}/traces{query}")
    assert response.status_code == 200, response.text
    return response.text


def listed(html) -> list[str]:
    """The inputs of the listed traces, in order."""
    return re.findall(r'<div class="preview">question ([^<]*)</div>', html)


def index_search(db):
    while repository.index_search_batch(db, 500, 100_000):
        pass


def test_trace_content_is_escaped_everywhere(viewer, auth, project, db):
    hostile = "<script>alert(1)</script>"
    send(viewer, auth, {
        "id": "evil", "name": "<b>name</b>", "input": hostile, "output": hostile, "session_id": "<i>s</i>",
        "tags": ['"><svg onload=alert(1)>'], "metadata": {"note": hostile},
        "spans": [{"id": "root", "name": hostile, "start_time": NOW.isoformat(), "error": hostile,
                   "status": "error", "input_messages": [{"role": "user", "content": hostile}],
                   "output_messages": [{"role": "assistant", "content": "", "tool_calls": [
                       {"id": "c1", "name": hostile, "arguments": '{"q": "</pre><script>x()</script>"}'}]}],
                   "attributes": {"k": hostile}}]})
    trace_id = db.scalar(select(Trace.id).where(Trace.external_id == "evil"))
    span_id = db.scalar(select(Span.id).where(Span.trace_id == trace_id))
    pages = [list_page(viewer, project),
             viewer.get(f"/projects/{project.id}/traces/{trace_id}").text,
             viewer.get(f"/projects/{project.id}/traces/{trace_id}/spans/{span_id}", headers=HTMX).text,
             viewer.get(f"/projects/{project.id}/sessions/<i>s</i>").text]
    for html in pages:
        assert "<script>alert(1)" not in html and "<script>x()" not in html and "<b>name" not in html
        assert "<svg" not in html and "<i>s" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "&lt;b&gt;name&lt;/b&gt;" in pages[1]
    assert "&lt;/pre&gt;&lt;script&gt;x()&lt;/script&gt;" in pages[2]


def test_filters_narrow_the_list(viewer, auth, project, db):
    send(viewer, auth,
         with_llm_span("a", environment="prod", tags=["vip"], release="v1", session_id="s1", user_id="ann"),
         with_llm_span("b", environment="staging", model="claude", minutes_ago=90, user_id="bob"),
         with_llm_span("c", environment="prod", error=True, minutes_ago=3 * 24 * 60, name="refund"),
         flat("d", output="your refund is on its way", minutes_ago=10))
    index_search(db)
    cases = {
        "": ["a", "d", "b", "c"],
        "?environment=prod": ["a", "c"],
        "?status=error": ["c"],
        "?status=ok": ["a", "d", "b"],
        "?tag=vip": ["a"],
        "?model=claude": ["b"],
        "?release=v1": ["a"],
        "?session_id=s1": ["a"],
        "?user_id=bob": ["b"],
        "?name=refund": ["c"],
        "?q=refund": ["d", "c"],  # words of the name count too
        "?range=1h": ["a", "d"],
        "?range=24h": ["a", "d", "b"],
        f"?range=custom&from={minute(NOW - timedelta(hours=2))}&to={minute(NOW - timedelta(minutes=5))}": ["d", "b"],
        "?environment=prod&status=ok": ["a"],
    }
    for query, expected in cases.items():
        assert listed(list_page(viewer, project, query)) == expected, query


def test_a_filtered_view_is_a_url_its_links_keep(viewer, auth, project):
    send(viewer, auth, *[flat(f"t{i}", minutes_ago=i, environment="prod") for i in range(55)])
    html = list_page(viewer, project, "?environment=prod&range=24h&q=&sort=time")
    assert 'name="environment" value="prod"' in html
    assert re.search(r'<option value="24h"\s+selected>', html)
    more = re.search(r'hx-get="([^"]*cursor=[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "environment=prod" in more and "range=24h" in more and "q=" not in more
    latency = re.search(r'href="([^"]*sort=latency[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "environment=prod" in latency and "order=desc" in latency


def test_columns_sort_both_ways(viewer, auth, project):
    send(viewer, auth, with_llm_span("slow", seconds=9, tokens=(1, 1), cost=0.5),
         with_llm_span("fast", seconds=1, tokens=(500, 500), minutes_ago=1),
         with_llm_span("mid", seconds=4, tokens=(50, 50), cost=0.01, minutes_ago=2))
    assert listed(list_page(viewer, project)) == ["slow", "fast", "mid"]
    assert listed(list_page(viewer, project, "?sort=time&order=asc")) == ["mid", "fast", "slow"]
    assert listed(list_page(viewer, project, "?sort=latency")) == ["slow", "mid", "fast"]
    assert listed(list_page(viewer, project, "?sort=latency&order=asc")) == ["fast", "mid", "slow"]
    assert listed(list_page(viewer, project, "?sort=tokens")) == ["fast", "mid", "slow"]
    assert listed(list_page(viewer, project, "?sort=cost")) == ["slow", "mid", "fast"]
    html = list_page(viewer, project, "?sort=latency")
    assert 'aria-sort="descending"' in html
    # The active column's link flips the order; the others start descending.
    assert re.search(r'href="[^"]*sort=latency&amp;order=asc"', html)
    assert re.search(r'href="[^"]*sort=cost&amp;order=desc"', html)


def test_load_more_appends_the_next_page_by_cursor(viewer, auth, project):
    send(viewer, auth, *[flat(f"t{i:02d}", minutes_ago=i) for i in range(57)])
    first = list_page(viewer, project)
    assert listed(first) == [f"t{i:02d}" for i in range(50)]
    more = re.search(r'hx-get="([^"]*cursor=[^"]*)"', first).group(1).replace("&amp;", "&")
    rows = viewer.get(more, headers=HTMX)
    assert rows.status_code == 200
    assert "<table" not in rows.text and "<html" not in rows.text
    assert listed(rows.text) == [f"t{i:02d}" for i in range(50, 57)]
    assert "Load more" not in rows.text
    assert viewer.get(f"/projects/{project.id}/traces?cursor=garbage", headers=HTMX).status_code == 422


def test_an_htmx_filter_swaps_only_the_results_and_refreshes_the_sort(viewer, auth, project):
    send(viewer, auth, flat("a"))
    response = viewer.get(f"/projects/{project.id}/traces?sort=latency&order=asc", headers=HTMX)
    assert "<html" not in response.text and 'id="trace-filters"' not in response.text
    assert 'id="sort-state" hx-swap-oob="true"' in response.text
    assert 'name="sort" value="latency"' in response.text and 'name="order" value="asc"' in response.text
    restore = viewer.get(f"/projects/{project.id}/traces", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text


def test_search_says_how_fresh_it_is(viewer, auth, project, db):
    send(viewer, auth, flat("a"), flat("b"))
    assert "2 recent traces are not searchable yet" in list_page(viewer, project, "?q=question")
    index_search(db)
    html = list_page(viewer, project, "?q=question")
    assert "not searchable yet" not in html and listed(html) == ["b", "a"]


def test_an_empty_project_says_how_to_send_traces(viewer, project):
    html = list_page(viewer, project)
    assert "No traces yet" in html
    assert "http://testserver/v1/traces" in html and "http://testserver/api/v1/traces" in html
    # A viewer cannot open the settings page where keys are made: told who can, not linked there.
    assert f'href="/projects/{project.id}/settings"' not in html and "an admin of the project creates one" in html


def test_an_empty_project_links_admins_to_their_keys(client, factory, project):
    client.login(factory.user("admin").email, PASSWORD)
    assert f'href="/projects/{project.id}/settings"' in list_page(client, project)


def test_no_match_is_not_the_empty_project(viewer, auth, project):
    send(viewer, auth, flat("a"))
    html = list_page(viewer, project, "?name=nothing-like-this")
    assert "No traces match these filters" in html and "No traces yet" not in html


@pytest.mark.parametrize(("query", "message"), [
    ("?range=custom&from=yesterday", "must be a date and time like 2026-01-31T14:00"),
    ("?sort=nonsense", "Sort by (sort) must be time, latency, tokens or cost"),
    ("?range=5y", "Unknown time range"),
    ("?status=broken", "Status (status) must be error or ok"),
    ("?q=a%00b", "Words in input or output (q) must not contain NUL characters"),
    ("?name=x%00", "Trace name (name) must not contain NUL characters"),
    ("?evaluator=abc", "Evaluator (evaluator) must be an id"),
    ("?evaluator_verdict=fail", "An evaluator verdict needs an evaluator"),
])
def test_bad_filter_values_get_a_clear_error(viewer, project, query, message):
    response = viewer.get(f"/projects/{project.id}/traces{query}")
    assert response.status_code == 422 and message in response.text


def annotate(db, project, external_id: str, verdict: str, annotator: str = "import:labels") -> None:
    trace_id = db.scalar(select(Trace.id).where(Trace.project_id == project.id, Trace.external_id == external_id))
    db.add(Annotation(project_id=project.id, trace_id=trace_id, annotator=annotator, verdict=verdict,
                      feedback="wrong answer" if verdict == "fail" else ""))
    db.flush()


@pytest.fixture
def annotated(viewer, auth, project, db):
    """a: failed by one annotator, passed by another (a tie: no label); b: passed; c (an error) and
    d: none."""
    send(viewer, auth, flat("a"), flat("b", minutes_ago=1, environment="staging"),
         with_llm_span("c", error=True, minutes_ago=2), flat("d", minutes_ago=3, environment="staging"))
    annotate(db, project, "a", "fail")
    annotate(db, project, "a", "pass", annotator="import:second-opinion")
    annotate(db, project, "b", "pass")


def test_the_list_filters_on_annotations(viewer, project, annotated):
    cases = {
        "": ["a", "b", "c", "d"],
        "?annotated=yes": ["a", "b"],
        "?annotated=no": ["c", "d"],
        "?annotated=fail": [],
        "?annotated=pass": ["b"],
        "?annotated=no&status=error": ["c"],
        "?annotated=pass&environment=staging": ["b"],
        "?annotated=no&environment=staging": ["d"],
    }
    for query, expected in cases.items():
        assert listed(list_page(viewer, project, query)) == expected, query
    html = list_page(viewer, project, "?annotated=fail")
    assert re.search(r'<select name="annotated">\s*<option value="">Any</option>', html)
    assert re.search(r'<option value="fail"\s+selected>Labelled failed</option>', html)
    response = viewer.get(f"/projects/{project.id}/traces?annotated=maybe")
    assert response.status_code == 422 and "(annotated) must be yes, no, fail or pass" in response.text


def test_the_api_filters_on_annotations(viewer, auth, annotated):
    def names(query: str) -> list[str]:
        response = viewer.get(f"/api/v1/traces{query}", headers=auth)
        assert response.status_code == 200, response.text
        return [item["external_id"] for item in response.json()["items"]]

    assert names("?annotated=yes") == ["a", "b"]
    assert names("?annotated=no") == ["c", "d"]
    assert names("?annotated=fail") == []
    assert names("?annotated=pass") == ["b"]
    assert names("?annotated=pass&environment=staging") == ["b"]
    assert names("?annotated=no&status=ok") == ["d"]
    assert viewer.get("/api/v1/traces?annotated=maybe", headers=auth).status_code == 422


def add_urls(html: str) -> list[str]:
    return [url.replace("&amp;", "&") for url in re.findall(r'data-add-url="([^"]*)"', html)]


def test_annotators_get_row_checkboxes_and_the_queues_to_add_to(client, factory, auth, project, db):
    from app.annotations import service as annotations

    send(client, auth, flat("a", environment="prod"), flat("b", minutes_ago=1, environment="prod"))
    admin = factory.user("admin")
    queues = [annotations.create_queue(db, project, annotations.QueueSpec(name=name), actor=admin)
              for name in ("Refunds", "<b>Tone</b>")]
    client.login(factory.user("annotator").email, PASSWORD)
    html = list_page(client, project, "?annotated=no&environment=prod&sort=latency")
    assert len(re.findall(r'<input type="checkbox" name="trace_ids" value="\d+" form="queue-add"', html)) == 2
    assert "data-select-page" in html and 'id="queue-add"' in html
    assert "&lt;b&gt;Tone&lt;/b&gt;" in html and "<b>Tone" not in html
    base = f"/projects/{project.id}/queues"
    assert sorted(add_urls(html)) == sorted(f"{base}/{queue.id}/add?annotated=no&environment=prod&sort=latency"
                                            for queue in queues)
    assert "Add all matching (up to 10,000)" in html


def test_viewers_get_no_add_to_queue_control(viewer, factory, auth, project, db):
    from app.annotations import service as annotations

    send(viewer, auth, flat("a"))
    annotations.create_queue(db, project, annotations.QueueSpec(name="Refunds"), actor=factory.user("admin"))
    html = list_page(viewer, project)
    assert listed(html) == ["a"] and 'name="trace_ids"' not in html and "queue-add" not in html


def test_without_a_queue_annotators_are_told_to_create_one(client, factory, auth, project):
    send(client, auth, flat("a"))
    client.login(factory.user("annotator").email, PASSWORD)
    html = list_page(client, project)
    assert "create an annotation queue" in html and 'name="trace_ids"' not in html


def ingest_conversation(client, auth, db, project) -> Trace:
    response = client.post("/v1/traces", content=taubench.export_body(1),
                           headers={**auth, "Content-Type": "application/x-protobuf"})
    assert response.status_code == 200
    return db.scalar(select(Trace).where(Trace.project_id == project.id))


def conversation_tools() -> list[str]:
    conversation = taubench.conversations()[0]
    return [call["function"]["name"] for m in conversation["traj"] for call in m.get("tool_calls") or []]


def test_trace_detail_shows_the_span_tree_and_the_root_first(viewer, auth, project, db):
    trace = ingest_conversation(viewer, auth, db, project)
    html = viewer.get(f"/projects/{project.id}/traces/{trace.id}").text
    tree = html.split('data-span-tree', 1)[1].split("</ol>", 1)[0]
    names = re.findall(r'<span class="span-name">([^<]*)</span>', tree)
    assert names[0] == "invoke_agent airline_agent"
    assert {f"execute_tool {tool}" for tool in conversation_tools()} <= set(names)
    assert len(names) == trace.span_count
    depths = re.findall(r'--depth: (\d+)', tree)
    assert depths[0] == "0" and set(depths[1:]) == {"1"}
    assert 'aria-current="true"' in tree.split("</li>", 1)[0]  # the root is selected
    assert "tau-airline-0-0" in html and "gpt-4o" in html and "benchmark" in html
    assert trace.input[:40].replace("'", "&#39;") in html


def test_the_chat_view_pairs_tool_calls_with_their_results(viewer, auth, project, db):
    trace = ingest_conversation(viewer, auth, db, project)
    spans = repository.spans_of(db, trace.id)
    last_chat = [s for s in spans if s.kind == "llm"][-1]
    panel = viewer.get(f"/projects/{project.id}/traces/{trace.id}/spans/{last_chat.id}", headers=HTMX).text
    assert "<html" not in panel
    calls = re.findall(r'<code class="tool-name">([^<]*)</code>', panel)
    assert calls == conversation_tools()
    # Every result sits under its call, none is left on its own.
    assert panel.count('class="tool-result"') == len(calls) and "Result of call" not in panel
    assert '"user_id": "mia_li_3668"' in panel.replace("&#34;", '"')  # arguments pretty-printed
    assert 'class="msg msg-system"' in panel  # the policy, from the system instructions
    full = viewer.get(f"/projects/{project.id}/traces/{trace.id}?span={last_chat.id}").text
    assert calls == re.findall(r'<code class="tool-name">([^<]*)</code>', full)


def test_a_tool_result_without_its_call_shows_on_its_own(viewer, auth, project, db):
    send(viewer, auth, flat("t", spans=[{
        "id": "llm", "name": "chat", "start_time": NOW.isoformat(),
        "input_messages": [{"role": "tool", "tool_call_id": "call_9", "name": "lookup", "content": '{"ok": true}'}],
        "output_messages": [{"role": "assistant", "content": "Found it."}]}]))
    trace_id = db.scalar(select(Trace.id).where(Trace.external_id == "t"))
    html = viewer.get(f"/projects/{project.id}/traces/{trace_id}").text
    assert "Result of call <code>call_9</code>" in html and "Found it." in html


def test_opening_a_span_panel_url_directly_shows_the_whole_trace(viewer, auth, project, db):
    trace = ingest_conversation(viewer, auth, db, project)
    span_id = repository.spans_of(db, trace.id)[1].id
    response = viewer.get(f"/projects/{project.id}/traces/{trace.id}/spans/{span_id}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/projects/{project.id}/traces/{trace.id}?span={span_id}"
    assert viewer.get(f"/projects/{project.id}/traces/{trace.id}?span=999999999").status_code == 404


def test_a_trace_without_spans_shows_its_input_and_output(viewer, auth, project, db):
    send(viewer, auth, flat("flat", input='{"question": "why"}'))
    trace_id = db.scalar(select(Trace.id).where(Trace.external_id == "flat"))
    html = viewer.get(f"/projects/{project.id}/traces/{trace_id}").text
    assert "no spans" in html and "&#34;question&#34;: &#34;why&#34;" in html


def test_the_session_view_shows_its_traces_in_order(viewer, auth, project):
    send(viewer, auth, flat("second", minutes_ago=5, session_id="chat/7"),
         flat("first", minutes_ago=9, session_id="chat/7"), flat("elsewhere", session_id="chat/8"))
    html = viewer.get(f"/projects/{project.id}/sessions/chat/7").text
    assert html.index("question first") < html.index("reply first") < html.index("question second")
    assert "elsewhere" not in html
    assert viewer.get(f"/projects/{project.id}/sessions/nobody").status_code == 404


def test_a_long_session_loads_more_turns(viewer, auth, project, monkeypatch):
    monkeypatch.setattr(views, "SESSION_PAGE_SIZE", 2)
    send(viewer, auth, *[flat(f"t{i}", minutes_ago=10 - i, session_id="long") for i in range(3)])
    html = viewer.get(f"/projects/{project.id}/sessions/long").text
    assert "question t1" in html and "question t2" not in html
    more = re.search(r'hx-get="([^"]*cursor=[^"]*)"', html).group(1)
    rows = viewer.get(more, headers=HTMX).text
    assert "<html" not in rows and "question t2" in rows and "Load more" not in rows


def test_another_projects_traces_are_not_found(viewer, auth, factory, project, db):
    trace = ingest_conversation(viewer, auth, db, project)
    span_id = repository.spans_of(db, trace.id)[0].id
    other = factory.project()
    assert "airline" not in list_page(viewer, other)
    for url in (f"/projects/{other.id}/traces/{trace.id}",
                f"/projects/{other.id}/traces/{trace.id}/spans/{span_id}",
                f"/projects/{other.id}/sessions/{trace.session_id}"):
        assert viewer.get(url, headers=HTMX).status_code == 404, url
        assert db.get(Trace, trace.id) is not None  # still there: the 404 is about the project


def fake_span(span_id, parent=None, start=0, duration=1000):
    at = NOW + timedelta(milliseconds=start)
    return SimpleNamespace(external_id=span_id, parent_external_id=parent, start_time=at,
                           end_time=at + timedelta(milliseconds=duration), duration_ms=duration)


def test_span_tree_is_depth_first_and_placed_on_the_time_line():
    spans = [fake_span("root", duration=4000), fake_span("a", "root", 0, 1000), fake_span("b", "root", 2000, 2000),
             fake_span("a1", "a", 500, 0), fake_span("orphan", "not-arrived", 1000, 1000)]
    rows = span_tree(spans)
    assert [(r.span.external_id, r.depth) for r in rows] == [
        ("root", 0), ("a", 1), ("a1", 2), ("b", 1), ("orphan", 0)]
    b = rows[3]
    assert (b.offset, b.width) == (50.0, 50.0)
    assert rows[2].width == views.MIN_BAR_PERCENT  # an instant still shows


def test_span_tree_survives_parent_loops():
    spans = [fake_span("x", "y"), fake_span("y", "x"), fake_span("self", "self")]
    rows = span_tree(spans)
    assert sorted(r.span.external_id for r in rows) == ["self", "x", "y"]
