"""The Langfuse Python SDK (OpenTelemetry-based), configured only by LANGFUSE_HOST and
its two keys, exporting to a live Sextant server: the secret key is a project API key."""

import base64
import json

import httpx
import pytest

from tests.traces.test_otlp_live import project_key

langfuse = pytest.importorskip("langfuse")

QUESTION, ANSWER = "Which gate for flight SX12?", "Gate B7."
TOOL_CALL = {"id": "call_7", "type": "function", "function": {"name": "gate_of", "arguments": '{"flight": "SX12"}'}}


@pytest.fixture
def langfuse_env(live, monkeypatch):
    key = project_key(live.database_url)
    monkeypatch.setenv("LANGFUSE_HOST", live.url)
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "sextant")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", key)
    monkeypatch.setenv("LANGFUSE_RELEASE", "2026.12.1")
    return key


def record_turn(client) -> None:
    """A support turn as the SDK records it; the generation's output is one OpenAI message
    object, as the `langfuse.openai` wrapper sends it."""
    with langfuse.propagate_attributes(trace_name="support-turn", user_id="traveller-3", session_id="trip-9",
                                       tags=["airport"]):
        with client.start_as_current_observation(name="answer-question", input=QUESTION) as root:
            with client.start_as_current_observation(
                    as_type="generation", name="OpenAI-generation", model="gpt-4o",
                    input=[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": QUESTION}],
            ) as generation:
                generation.update(output={"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
                                  usage_details={"input": 40, "output": 9})
            root.update(output=ANSWER)


def test_the_langfuse_sdk_delivers_mapped_traces(live, langfuse_env):
    client = langfuse.Langfuse()
    record_turn(client)
    client.flush()
    client.shutdown()

    api = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {langfuse_env}"}, timeout=10)
    [trace] = api.get("/api/v1/traces").json()["items"]
    assert (trace["name"], trace["input"], trace["output"]) == ("support-turn", QUESTION, ANSWER)
    assert (trace["session_id"], trace["user_id"], trace["tags"]) == ("trip-9", "traveller-3", ["airport"])
    assert trace["release"] == "2026.12.1"
    assert (trace["span_count"], trace["tokens_in"], trace["tokens_out"]) == (2, 40, 9)

    spans = {s["kind"]: s for s in api.get(f"/api/v1/traces/{trace['id']}").json()["spans"]}
    assert set(spans) == {"span", "llm"}
    llm = spans["llm"]
    assert (llm["model"], llm["system"]) == ("gpt-4o", "Answer briefly.")
    assert [(m["role"], m["content"]) for m in llm["input_messages"]] == [
        ("system", "Answer briefly."), ("user", QUESTION)]
    [message] = llm["output_messages"]
    assert message["role"] == "assistant"
    assert message["tool_calls"] == [{"id": "call_7", "name": "gate_of", "arguments": '{"flight": "SX12"}'}]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_takes_the_api_key_as_password_and_other_langfuse_calls_get_json(live):
    key = project_key(live.database_url)
    body = json.dumps({"resourceSpans": []})
    url = f"{live.url}/api/public/otel/v1/traces"
    headers = {"Content-Type": "application/json"}
    assert httpx.post(url, content=body, headers={**headers, "Authorization": basic("pk", key)}).status_code == 200
    refused = httpx.post(url, content=body, headers={**headers, "Authorization": basic(key, "sx_wrong")})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_authenticated"
    garbled = httpx.post(url, content=body, headers={**headers, "Authorization": "Basic %%%"})
    assert garbled.status_code == 401 and garbled.json()["error"]["code"] == "not_authenticated"

    prompts = httpx.get(f"{live.url}/api/public/v2/prompts/greeting", headers={"Authorization": basic("pk", key)})
    assert prompts.status_code == 404 and prompts.headers["content-type"] == "application/json"
    assert "/api/public/otel/v1/traces" in prompts.json()["error"]["message"]
