"""The tau-bench airline conversations as OTel GenAI traces, made with the real OTel SDK.

One trace per conversation: a root `invoke_agent` span carrying the conversation's
first user message and last assistant reply, one `chat` span per assistant turn
(`gen_ai.input.messages` = the history so far, `gen_ai.output.messages` = the turn,
`gen_ai.system_instructions` = the policy), and one `execute_tool` span per tool call,
a child of the root, carrying the call's arguments and result. Ids derive from
task_id + trial, and times from the conversation's position, so the same
conversations always give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.id_generator import IdGenerator

from tests.datasets import shared_data_dir
from tests.traces.otlp_bodies import sdk_request

MODEL = "gpt-4o"
AGENT_NAME = "airline_agent"
RESOURCE = {
    "service.name": "tau-bench-airline-agent",
    "service.version": "2024.05",
    "deployment.environment.name": "benchmark",
}
# 2024-05-15T19:00:00Z, the "current time" in the tau-bench airline policy.
BASE_TIME_NS = 1_715_799_600 * 10**9
CONVERSATION_SPACING_NS = 3600 * 10**9
MESSAGE_SPACING_NS = 2 * 10**9


@lru_cache(maxsize=1)
def conversations() -> list[dict]:
    path = shared_data_dir() / "tau-bench-airline" / "gpt-4o-airline.json"
    return json.loads(path.read_text())


def session_id(conversation: dict) -> str:
    return f"tau-airline-{conversation['task_id']}-{conversation['trial']}"


def user_id(conversation: dict) -> str:
    return conversation["info"]["task"]["user_id"]


def trace_id(conversation: dict) -> str:
    return _digest(session_id(conversation), "trace")[:32]


def _digest(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


class _DerivedIds(IdGenerator):
    """Trace and span ids derived from the conversation being recorded."""

    def __init__(self) -> None:
        self.conversation: dict = {}
        self.spans = 0

    def start(self, conversation: dict) -> None:
        self.conversation, self.spans = conversation, 0

    def generate_trace_id(self) -> int:
        return int(trace_id(self.conversation), 16)

    def generate_span_id(self) -> int:
        self.spans += 1
        return int(_digest(session_id(self.conversation), "span", self.spans)[:16], 16)


def export_request(count: int | None = None) -> ExportTraceServiceRequest:
    """The first `count` conversations (all when None) as one OTLP export request."""
    return ExportTraceServiceRequest.FromString(export_body(count))


@lru_cache(maxsize=8)
def export_body(count: int | None = None) -> bytes:
    ids = _DerivedIds()

    def record(tracer) -> None:
        for position, conversation in enumerate(conversations()[:count]):
            ids.start(conversation)
            _record(tracer, conversation, BASE_TIME_NS + position * CONVERSATION_SPACING_NS)

    return sdk_request(record, RESOURCE, ids).SerializeToString()


def _record(tracer, conversation: dict, start_ns: int) -> None:
    messages = conversation["traj"]
    times = [start_ns + i * MESSAGE_SPACING_NS for i in range(len(messages) + 1)]
    common = {"session.id": session_id(conversation), "user.id": user_id(conversation)}
    root = tracer.start_span(
        f"invoke_agent {AGENT_NAME}",
        start_time=times[0],
        attributes={**common, **_root_attributes(conversation)},
    )
    context = trace.set_span_in_context(root)
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        chat = tracer.start_span(
            f"chat {MODEL}",
            context=context,
            kind=trace.SpanKind.CLIENT,
            start_time=times[index] - MESSAGE_SPACING_NS // 2,
            attributes={**common, **_chat_attributes(messages, index)},
        )
        chat.end(end_time=times[index])
        for call in message.get("tool_calls") or []:
            _record_tool(tracer, context, common, messages, index, call, times)
    root.end(end_time=times[-1])


def _root_attributes(conversation: dict) -> dict:
    messages = conversation["traj"]
    first_user = next(m for m in messages if m["role"] == "user")
    replies = [m for m in messages if m["role"] == "assistant" and m.get("content")]
    return {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": AGENT_NAME,
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.conversation.id": session_id(conversation),
        "gen_ai.input.messages": json.dumps([genai_message(first_user)]),
        "gen_ai.output.messages": json.dumps([genai_message(m) for m in replies[-1:]]),
        "tau_bench.task_id": conversation["task_id"],
        "tau_bench.trial": conversation["trial"],
        "tau_bench.reward": float(conversation["reward"]),
    }


def _chat_attributes(messages: list[dict], index: int) -> dict:
    system = [m["content"] for m in messages[:index] if m["role"] == "system"]
    history = [m for m in messages[:index] if m["role"] != "system"]
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.system_instructions": json.dumps(
            [{"type": "text", "content": text} for text in system]
        ),
        "gen_ai.input.messages": json.dumps([genai_message(m) for m in history]),
        "gen_ai.output.messages": json.dumps([genai_message(messages[index])]),
    }


def _record_tool(tracer, context, common, messages, index, call, times) -> None:
    later = enumerate(messages[index + 1 :], start=index + 1)
    result_index, result = next(
        ((i, m) for i, m in later if m.get("tool_call_id") == call["id"]), (index, None)
    )
    name = call["function"]["name"]
    attributes = {
        **common,
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": call["id"],
        "gen_ai.tool.call.arguments": call["function"]["arguments"],
    }
    if result is not None:
        attributes["gen_ai.tool.call.result"] = result["content"]
    span = tracer.start_span(
        f"execute_tool {name}",
        context=context,
        kind=trace.SpanKind.INTERNAL,
        start_time=times[index],
        attributes=attributes,
    )
    span.end(end_time=times[result_index] + MESSAGE_SPACING_NS // 4)


def genai_message(message: dict) -> dict:
    """A tau-bench (OpenAI chat) message in the GenAI parts-based message format."""
    parts = []
    if message.get("content") and message["role"] != "tool":
        parts.append({"type": "text", "content": message["content"]})
    for call in message.get("tool_calls") or []:
        parts.append(
            {
                "type": "tool_call",
                "id": call["id"],
                "name": call["function"]["name"],
                "arguments": _json_or_text(call["function"]["arguments"]),
            }
        )
    if message["role"] == "tool":
        parts.append(
            {
                "type": "tool_call_response",
                "id": message["tool_call_id"],
                "response": message["content"],
            }
        )
    converted = {"role": message["role"], "parts": parts}
    if message["role"] == "tool":
        converted["name"] = message["name"]
    if message["role"] == "assistant":
        converted["finish_reason"] = "tool_call" if message.get("tool_calls") else "stop"
    return converted


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text
