"""The stock OpenTelemetry SDK and OTLP/HTTP exporter, configured only by the standard
environment variables, sending protobuf (plain or gzip) to a live Sextant server."""

import json

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

QUESTION, ANSWER = "Can I bring my cat on board?", "Yes, in a carrier under the seat."


def project_key(database_url: str) -> str:
    """A project and an API key in the live server's database, by the account services."""
    from app.accounts import service
    from app.accounts.models import Organization

    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            organization = Organization(name="Pets Air")
            session.add(organization)
            session.flush()
            project = service.create_project(session, organization_id=organization.id, name="Support",
                                             actor="test")
            _, key = service.create_api_key(session, project, actor="test")
            session.commit()
            return key
    finally:
        engine.dispose()


def record_conversation(tracer) -> None:
    """An agent turn as an instrumented app records it: agent, chat call, failing tool call."""
    with tracer.start_as_current_span("invoke_agent concierge", attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "concierge",
        "session.id": "conv-7", "user.id": "customer-42",
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant",
                                               "parts": [{"type": "text", "content": ANSWER}]}]),
    }):
        with tracer.start_as_current_span("chat claude-sonnet", kind=SpanKind.CLIENT, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet", "gen_ai.usage.input_tokens": 321,
            "gen_ai.usage.output_tokens": 54, "gen_ai.usage.cache_read.input_tokens": 128,
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be kind to pets."}]),
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                {"type": "tool_call", "id": "call-1", "name": "pet_policy", "arguments": {"animal": "cat"}}]}]),
        }):
            pass
        with tracer.start_as_current_span("execute_tool pet_policy", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "pet_policy",
            "gen_ai.tool.call.arguments": '{"animal": "cat"}',
        }) as tool:
            tool.record_exception(TimeoutError("policy service timed out"))
            tool.set_status(Status(StatusCode.ERROR))


@pytest.fixture
def exporter_env(live, monkeypatch):
    """Only the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT and the Authorization header."""
    key = project_key(live.database_url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", live.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{key}")
    return key


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_the_stock_exporter_delivers_mapped_spans(live, exporter_env, compression):
    provider = TracerProvider(resource=Resource.create({
        "service.name": "concierge", "service.version": "2.4.1", "deployment.environment.name": "staging"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(compression=compression)))
    record_conversation(provider.get_tracer("tests.otlp_live"))
    assert provider.force_flush(30_000)
    provider.shutdown()

    api = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {exporter_env}"}, timeout=10)
    [trace] = api.get("/api/v1/traces").json()["items"]
    assert trace["name"] == "invoke_agent concierge"
    assert (trace["session_id"], trace["user_id"]) == ("conv-7", "customer-42")
    assert (trace["release"], trace["environment"]) == ("2.4.1", "staging")
    assert (trace["input"], trace["output"]) == (QUESTION, ANSWER)
    assert trace["models"] == ["claude-sonnet"] and trace["has_error"] is True
    assert (trace["span_count"], trace["tokens_in"], trace["tokens_out"]) == (3, 321, 54)

    spans = {s["kind"]: s for s in api.get(f"/api/v1/traces/{trace['id']}").json()["spans"]}
    assert set(spans) == {"agent", "llm", "tool"}
    llm, tool = spans["llm"], spans["tool"]
    assert (llm["model"], llm["provider"], llm["tokens_cache_read"]) == ("claude-sonnet", "anthropic", 128)
    assert llm["system"] == "Be kind to pets."
    assert [(m["role"], m["content"]) for m in llm["input_messages"]] == [("user", QUESTION)]
    assert llm["output_messages"][0]["tool_calls"][0]["name"] == "pet_policy"
    assert llm["parent_external_id"] == spans["agent"]["external_id"]
    assert (tool["tool_name"], tool["status"]) == ("pet_policy", "error")
    assert "policy service timed out" in tool["error"]
    assert tool["attributes"]["gen_ai.tool.call.arguments"] == '{"animal": "cat"}'
    # The resource is kept on every span row, raw.
    assert live.sql("SELECT DISTINCT resource->>'service.name' FROM span") == [("concierge",)]
