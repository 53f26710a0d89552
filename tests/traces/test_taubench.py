"""The tau-bench airline conversations, as OTel GenAI spans, decode to what they hold."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from app.traces.otlp import decode_export
from tests.traces import taubench

COUNT = 3


@pytest.fixture(scope="module")
def traces() -> dict[str, list]:
    decoded = decode_export(taubench.export_body(COUNT), "application/x-protobuf")
    assert not decoded.rejected
    by_trace = defaultdict(list)
    for span in decoded.spans:
        by_trace[span.trace_id].append(span)
    return by_trace


def conversation_spans(traces, conversation):
    spans = sorted(traces[taubench.trace_id(conversation)], key=lambda s: (s.start_time, s.span_id))
    (root,) = [s for s in spans if s.parent_span_id is None]
    return root, [s for s in spans if s.kind == "llm"], [s for s in spans if s.kind == "tool"]


def test_one_trace_per_conversation(traces):
    conversations = taubench.conversations()[:COUNT]
    assert set(traces) == {taubench.trace_id(c) for c in conversations}
    assert any(s.kind == "tool" for spans in traces.values() for s in spans)


@pytest.mark.parametrize("position", range(COUNT))
def test_tool_calls_become_child_tool_spans(traces, position):
    conversation = taubench.conversations()[position]
    root, _, tools = conversation_spans(traces, conversation)
    calls = list(calls_with_results(conversation["traj"]))
    assert [t.tool_name for t in tools] == [c["function"]["name"] for c, _ in calls]
    assert [t.input for t in tools] == [c["function"]["arguments"] for c, _ in calls]
    assert [t.output for t in tools] == [result or None for _, result in calls]
    assert all(t.parent_span_id == root.span_id for t in tools)


def calls_with_results(messages: list[dict]):
    """Each tool call with the first later tool message answering it (ids repeat in the data)."""
    for index, message in enumerate(messages):
        for call in message.get("tool_calls") or []:
            answers = (m for m in messages[index + 1 :] if m.get("tool_call_id") == call["id"])
            yield call, next((m["content"] for m in answers), None)


@pytest.mark.parametrize("position", range(COUNT))
def test_chat_spans_carry_the_turns(traces, position):
    conversation = taubench.conversations()[position]
    root, chats, _ = conversation_spans(traces, conversation)
    messages = conversation["traj"]
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    assert len(chats) == len(turns)
    for chat, index in zip(chats, turns, strict=True):
        assert chat.model == "gpt-4o" and chat.provider == "openai" and chat.operation == "chat"
        assert chat.system == messages[0]["content"]
        assert chat.input_messages == [expected(m) for m in messages[1:index]]
        assert chat.output_messages == [expected(messages[index])]
        assert chat.parent_span_id == root.span_id
    replies = [m["content"] for m in messages if m["role"] == "assistant" and m["content"]]
    first_user = next(m["content"] for m in messages if m["role"] == "user")
    assert (root.kind, root.input, root.output) == ("agent", first_user, replies[-1])
    assert root.session_id == taubench.session_id(conversation)
    assert root.user_id == conversation["info"]["task"]["user_id"]
    assert root.attributes["tau_bench.reward"] == conversation["reward"]
    assert (root.release, root.environment) == ("2024.05", "benchmark")


def expected(message: dict) -> dict:
    """A tau-bench message as the normalised chat message the decoder should produce."""
    calls = [
        {
            "id": c["id"],
            "name": c["function"]["name"],
            "arguments": normalised_json(c["function"]["arguments"]),
        }
        for c in message.get("tool_calls") or []
    ]
    return {
        "role": message["role"],
        "content": message.get("content") or "",
        "tool_calls": calls,
        "tool_call_id": message.get("tool_call_id"),
        "name": message.get("name"),
    }


def normalised_json(text: str) -> str:
    """Arguments travel as JSON objects in GenAI parts, so they come back re-serialised."""
    return json.dumps(json.loads(text), ensure_ascii=False)


def test_ids_and_bodies_are_deterministic():
    assert taubench.export_body.__wrapped__(2) == taubench.export_body.__wrapped__(2)
