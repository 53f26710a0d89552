"""Ingestion over HTTP (OTLP and REST) and reading traces back, against real Postgres."""

import gzip
import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.traces import taubench
from tests.traces.otlp_bodies import gzipped, otlp_json, sdk_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}



@pytest.fixture
def auth(factory, project):
    return {"Authorization": f"Bearer {factory.api_key(project)}"}


def chat_trace(tracer, question="Where is my refund?", answer="Refunds take 5 days.", error=False):
    with tracer.start_as_current_span("support_agent", attributes={"session.id": "s-1", "user.id": "u-1",
                                                                   "openinference.span.kind": "AGENT",
                                                                   "input.value": question,
                                                                   "output.value": answer}):
        with tracer.start_as_current_span("chat gpt-4o", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
        }) as llm:
            if error:
                from opentelemetry.trace import Status, StatusCode
                llm.set_status(Status(StatusCode.ERROR, "rate limited"))


def export(client, auth, body, headers=PROTOBUF):
    return client.post("/v1/traces", content=body, headers={**auth, **headers})


def test_otlp_protobuf_is_stored_and_answered_in_protobuf(client, auth, project):
    response = export(client, auth, sdk_request(chat_trace).SerializeToString())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert not parsed.HasField("partial_success")

    page = client.get("/api/v1/traces", headers=auth).json()
    [trace] = page["items"]
    assert trace["name"] == "support_agent"
    assert trace["input"] == "Where is my refund?" and trace["output"] == "Refunds take 5 days."
    assert trace["session_id"] == "s-1" and trace["user_id"] == "u-1"
    assert trace["models"] == ["gpt-4o"]
    assert (trace["tokens_in"], trace["tokens_out"], trace["span_count"]) == (120, 30, 2)
    detail = client.get(f"/api/v1/traces/{trace['id']}", headers=auth).json()
    llm = next(s for s in detail["spans"] if s["kind"] == "llm")
    assert llm["input_messages"][0]["content"] == "Where is my refund?"
    assert llm["attributes"]["gen_ai.request.model"] == "gpt-4o"


def test_otlp_json_and_gzip_give_the_same_traces(client, auth):
    request = sdk_request(chat_trace)
    json_response = export(client, auth, otlp_json(request), {"Content-Type": "application/json"})
    assert json_response.status_code == 200
    assert json_response.headers["content-type"] == "application/json"
    gz = export(client, auth, gzipped(request.SerializeToString()), {**PROTOBUF, "Content-Encoding": "gzip"})
    assert gz.status_code == 200
    [trace] = client.get("/api/v1/traces", headers=auth).json()["items"]
    assert trace["span_count"] == 2  # the same spans twice: stored once


def test_resending_a_batch_stores_nothing_twice(client, auth, db):
    body = taubench.export_body(3)
    for _ in range(2):
        assert export(client, auth, body).status_code == 200
    traces = client.get("/api/v1/traces", headers=auth).json()["items"]
    assert len(traces) == 3
    from sqlalchemy import text

    spans = db.scalar(text("SELECT count(*) FROM span"))
    assert spans == sum(t["span_count"] for t in traces)


def test_a_later_span_updates_the_trace_rollup(client, auth):
    request = sdk_request(chat_trace)
    resource_spans = request.resource_spans[0].scope_spans[0]
    root = next(s for s in resource_spans.spans if not s.parent_span_id)
    child = next(s for s in resource_spans.spans if s.parent_span_id)

    def only(span):
        partial = type(request)()
        partial.CopyFrom(request)
        scope = partial.resource_spans[0].scope_spans[0]
        del scope.spans[:]
        scope.spans.append(span)
        return partial.SerializeToString()

    export(client, auth, only(child))
    [trace] = client.get("/api/v1/traces", headers=auth).json()["items"]
    assert trace["name"] is None and trace["tokens_in"] == 120
    export(client, auth, only(root))
    [trace] = client.get("/api/v1/traces", headers=auth).json()["items"]
    assert trace["name"] == "support_agent" and trace["span_count"] == 2
    assert trace["input"] == "Where is my refund?"


def test_spans_that_cannot_be_stored_are_reported_as_partial_success(client, auth):
    request = sdk_request(chat_trace)
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"short"
    response = export(client, auth, request.SerializeToString())
    assert response.status_code == 200
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 1
    assert "span 0" in parsed.partial_success.error_message
    [trace] = client.get("/api/v1/traces", headers=auth).json()["items"]
    assert trace["span_count"] == 1


@pytest.mark.parametrize(("headers", "body", "status", "code"), [
    ({"Content-Type": "text/plain"}, b"hello", 415, "unsupported_media_type"),
    ({}, b"hello", 415, "unsupported_media_type"),
    (PROTOBUF, b"\xff\xff\xff not protobuf", 400, "invalid_otlp"),
    ({"Content-Type": "application/json"}, b"{not json", 400, "invalid_otlp"),
    ({**PROTOBUF, "Content-Encoding": "gzip"}, b"not gzip", 400, "invalid_otlp"),
    ({**PROTOBUF, "Content-Encoding": "br"}, b"x", 415, "unsupported_media_type"),
])
def test_unreadable_bodies_get_a_clear_error(client, auth, headers, body, status, code):
    response = export(client, auth, body, headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_oversized_bodies_get_413(client, auth, monkeypatch):
    body = b"x" * (10 * 1024 * 1024 + 1)
    response = export(client, auth, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_gzip_bombs_get_413(client, auth):
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    response = export(client, auth, bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 413


def test_missing_or_bad_keys_get_401(client):
    body = sdk_request(chat_trace).SerializeToString()
    assert export(client, {}, body).status_code == 401
    bad = export(client, {"Authorization": "Bearer sx_not_a_key"}, body)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "not_authenticated"


def test_a_key_never_reads_or_writes_another_project(client, factory, auth, project):
    export(client, auth, sdk_request(chat_trace).SerializeToString())
    other_auth = {"Authorization": f"Bearer {factory.api_key(factory.project())}"}
    assert client.get("/api/v1/traces", headers=other_auth).json()["items"] == []
    mine = client.get("/api/v1/traces", headers=auth).json()["items"][0]["id"]
    assert client.get(f"/api/v1/traces/{mine}", headers=other_auth).status_code == 404
    assert client.get(f"/api/v1/traces?project_id={project.id}", headers=other_auth).status_code == 404


def test_rest_ingestion_round_trip(client, auth):
    batch = {"traces": [{
        "id": "order-42", "name": "checkout", "session_id": "sess", "tags": ["beta", "eu"],
        "release": "v2", "environment": "prod", "metadata": {"plan": "pro"},
        "input": "Buy two tickets", "output": "Done: two tickets",
        "spans": [
            {"id": "root", "name": "checkout", "kind": "agent", "start_time": "2026-01-01T10:00:00Z",
             "end_time": "2026-01-01T10:00:02Z"},
            {"id": "llm", "parent_id": "root", "name": "plan", "model": "claude-x",
             "start_time": "2026-01-01T10:00:00.5Z", "end_time": "2026-01-01T10:00:01Z",
             "input_messages": [{"role": "user", "content": "Buy two tickets"}],
             "output_messages": [{"role": "assistant", "content": "", "tool_calls": [
                 {"id": "c1", "name": "buy", "arguments": "{\"n\": 2}"}]}],
             "tokens_in": 10, "tokens_out": 5, "cost": 0.002},
            {"id": "tool", "parent_id": "llm", "name": "buy", "kind": "tool", "status": "error",
             "error": "card declined", "start_time": "2026-01-01T10:00:01Z"},
        ]}]}
    first = client.post("/api/v1/traces", json=batch, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json() == {"traces": 1, "spans_stored": 3, "spans_duplicate": 0}
    again = client.post("/api/v1/traces", json=batch, headers=auth).json()
    assert again == {"traces": 1, "spans_stored": 0, "spans_duplicate": 3}

    detail = client.get("/api/v1/traces/by-external-id/order-42", headers=auth).json()
    assert detail["input"] == "Buy two tickets" and detail["has_error"] is True
    assert detail["tags"] == ["beta", "eu"] and detail["metadata"] == {"plan": "pro"}
    assert detail["duration_ms"] == 2000 and detail["cost"] == pytest.approx(0.002)
    llm = next(s for s in detail["spans"] if s["external_id"] == "llm")
    assert llm["output_messages"][0]["tool_calls"][0]["name"] == "buy"
    assert llm["kind"] == "llm"


def test_rest_validation_errors_name_the_field(client, auth):
    response = client.post("/api/v1/traces", json={"traces": [{"id": "", "spans": []}]}, headers=auth)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "traces.0.id" in error["message"]


def test_list_filters_and_keyset_pages(client, auth):
    traces = [{"id": f"t{i}", "name": "even" if i % 2 == 0 else "odd", "environment": "prod",
               "start_time": f"2026-01-01T10:00:{i:02d}Z", "end_time": f"2026-01-01T10:01:{i:02d}Z",
               "tags": ["vip"] if i < 3 else []} for i in range(7)]
    client.post("/api/v1/traces", json={"traces": traces}, headers=auth)
    seen, cursor = [], None
    while True:
        url = "/api/v1/traces?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=auth).json()
        seen += [t["external_id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"t{i}" for i in range(6, -1, -1)]
    evens = client.get("/api/v1/traces?name=even&order=asc", headers=auth).json()["items"]
    assert [t["external_id"] for t in evens] == ["t0", "t2", "t4", "t6"]
    vip = client.get("/api/v1/traces?tag=vip", headers=auth).json()["items"]
    assert {t["external_id"] for t in vip} == {"t0", "t1", "t2"}
    assert client.get("/api/v1/traces?cursor=garbage", headers=auth).status_code == 422
    assert client.get("/api/v1/traces?sort=nonsense", headers=auth).status_code == 422
