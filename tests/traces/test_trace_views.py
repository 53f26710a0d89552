from tests.traces import taubench


def test_trace_views_carry_the_conversation_tool_calls_and_span_facts(db, factory):
    from app.traces import otlp, service

    project = factory.project()
    decoded = otlp.decode_export(taubench.export_body(2), "application/x-protobuf")
    outcome = service.ingest(db, project.id, decoded.spans)
    views = service.trace_views(db, outcome.trace_ids)
    assert set(views) == set(outcome.trace_ids)
    for view in views.values():
        assert {"user", "assistant"} <= {m["role"] for m in view["messages"]}
        tools = [s for s in view["spans"] if s["kind"] == "tool"]
        assert all(s["tool_name"] for s in tools)
        called = {c["name"] for m in view["messages"] for c in m.get("tool_calls") or []}
        assert called <= {s["tool_name"] for s in tools}
        assert view["group"].startswith("tau-airline-")  # the session keeps trials together
    assert any(m.get("tool_calls") for v in views.values() for m in v["messages"])


def test_a_trace_without_llm_spans_is_one_exchange(db, factory):
    from app.traces import service

    project = factory.project()
    [trace] = factory.traces(project, 1)
    view = service.trace_views(db, [trace.id])[trace.id]
    assert [m["role"] for m in view["messages"]] == ["user", "assistant"]
    assert view["messages"][1]["content"] == trace.output
