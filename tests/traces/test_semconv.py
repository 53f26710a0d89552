"""The attribute mapping, one table per convention: raw attributes -> expected fields."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from app.traces.semconv import (
    MAX_DEPTH,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    TRUNCATION_MARKER,
    RawSpan,
    SpanRecord,
    json_safe,
    map_span,
    normalize_messages,
    parse_json,
)

START = datetime(2024, 5, 15, 19, 0, tzinfo=UTC)


def record(attributes: dict, events=(), resource=None, status="unset", message=None):
    return map_span(
        RawSpan(
            trace_id="5b8efff798038103d269b633813fc60c",
            span_id="eee19b7ec3c1b174",
            parent_span_id=None,
            name="span",
            start_time=START,
            end_time=None,
            status=status,
            status_message=message,
            attributes=json_safe(attributes),
            events=[
                {"name": name, "time": None, "attributes": json_safe(attrs)}
                for name, attrs in events
            ],
            resource=json_safe(resource or {}),
            scope=None,
        )
    )


def fields(span: SpanRecord, expected: dict) -> dict:
    return {name: getattr(span, name) for name in expected}


def msg(role, content="", tool_calls=(), tool_call_id=None, name=None):
    return {
        "role": role,
        "content": content,
        "tool_calls": list(tool_calls),
        "tool_call_id": tool_call_id,
        "name": name,
    }


def call(id, name, arguments):
    return {"id": id, "name": name, "arguments": arguments}


def check(attributes: dict, expected: dict, **context) -> None:
    span = record(attributes, **context)
    assert fields(span, expected) == expected
    assert span.attributes == json_safe(attributes), "every raw attribute is kept"


# ---------------------------------------------------------------------------
# OTel GenAI, current: gen_ai.input.messages / gen_ai.output.messages (parts-based)

GENAI_INPUT = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    {
        "role": "assistant",
        "parts": [
            {"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Paris"}}
        ],
    },
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "rain"}]},
]
GENAI_OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "It rains."}],
        "finish_reason": "stop",
    }
]

GENAI_TABLE = [
    pytest.param(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps(GENAI_INPUT),
            "gen_ai.output.messages": json.dumps(GENAI_OUTPUT),
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.usage.cache_read.input_tokens": 64,
            "gen_ai.usage.cache_creation.input_tokens": 16,
            "gen_ai.usage.reasoning.output_tokens": 3,
            "gen_ai.conversation.id": "conv-1",
        },
        {
            "kind": "llm",
            "operation": "chat",
            "model": "gpt-4o-2024-08-06",
            "provider": "openai",
            "system": "Be brief.",
            "input_messages": [
                msg("user", "Weather in Paris?"),
                msg("assistant", tool_calls=[call("c1", "weather", '{"city": "Paris"}')]),
                msg("tool", "rain", tool_call_id="c1"),
            ],
            "output_messages": [msg("assistant", "It rains.")],
            "input": 'user: Weather in Paris?\nassistant: weather({"city": "Paris"})\ntool: rain',
            "output": "It rains.",
            "tokens_in": 120,
            "tokens_out": 7,
            "tokens_cache_read": 64,
            "tokens_cache_write": 16,
            "tokens_reasoning": 3,
            "session_id": "conv-1",
        },
        id="chat-json-strings",
    ),
    pytest.param(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-sonnet",
            "gen_ai.system": "anthropic",
            "gen_ai.input.messages": GENAI_INPUT[:1],
            "gen_ai.output.messages": GENAI_OUTPUT,
            "gen_ai.usage.prompt_tokens": "12",
            "gen_ai.usage.completion_tokens": 5.0,
        },
        {
            "model": "claude-sonnet",
            "provider": "anthropic",
            "input_messages": [msg("user", "Weather in Paris?")],
            "input": "Weather in Paris?",
            "tokens_in": 12,
            "tokens_out": 5,
            "system": None,
        },
        id="structured-values-and-older-token-names",
    ),
    pytest.param(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_user_details",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": '{"user_id": "mia"}',
            "gen_ai.tool.call.result": '{"name": "Mia"}',
        },
        {
            "kind": "tool",
            "tool_name": "get_user_details",
            "input": '{"user_id": "mia"}',
            "output": '{"name": "Mia"}',
            "input_messages": None,
        },
        id="execute-tool",
    ),
    pytest.param(
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
        {"kind": "agent", "operation": "invoke_agent", "model": None},
        id="invoke-agent",
    ),
    pytest.param(
        {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3"},
        {"kind": "embedding", "model": "text-embedding-3"},
        id="embeddings",
    ),
    pytest.param({"gen_ai.operation.name": "retrieval"}, {"kind": "retriever"}, id="retrieval"),
    pytest.param({"gen_ai.operation.name": "invoke_workflow"}, {"kind": "chain"}, id="workflow"),
    pytest.param(
        {
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.total_tokens": 25,
            "gen_ai.usage.cost": 0.0021,
        },
        {"kind": "llm", "tokens_in": 10, "tokens_out": 15, "cost": 0.0021},
        id="no-operation-total-tokens-and-cost",
    ),
    pytest.param(
        {
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [
                            {"type": "reasoning", "content": "hidden"},
                            {"type": "text", "content": "Look:"},
                            {"type": "uri", "uri": "https://x/cat.png", "modality": "image"},
                        ],
                    }
                ]
            )
        },
        {"output_messages": [msg("assistant", "Look:\n[uri]")], "output": "Look:\n[uri]"},
        id="non-text-parts",
    ),
    pytest.param(
        {"gen_ai.input.messages": "not json", "gen_ai.usage.input_tokens": -4},
        {"input_messages": None, "input": None, "tokens_in": None, "kind": "span"},
        id="unusable-values-are-ignored",
    ),
]


@pytest.mark.parametrize("attributes, expected", GENAI_TABLE)
def test_genai(attributes, expected):
    check(attributes, expected)


# ---------------------------------------------------------------------------
# OTel GenAI, event based: one span event per message

GENAI_EVENTS_TABLE = [
    pytest.param(
        {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"},
        [
            ("gen_ai.system.message", {"content": "Be brief."}),
            ("gen_ai.user.message", {"content": "Weather?"}),
            (
                "gen_ai.assistant.message",
                {
                    "tool_calls": json.dumps(
                        [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "weather", "arguments": "{}"},
                            }
                        ]
                    )
                },
            ),
            ("gen_ai.tool.message", {"content": "rain", "id": "c1"}),
            (
                "gen_ai.choice",
                {"index": 0, "finish_reason": "stop", "message": json.dumps({"content": "Rain."})},
            ),
        ],
        {
            "kind": "llm",
            "system": "Be brief.",
            "input_messages": [
                msg("system", "Be brief."),
                msg("user", "Weather?"),
                msg("assistant", tool_calls=[call("c1", "weather", "{}")]),
                msg("tool", "rain", tool_call_id="c1"),
            ],
            "output_messages": [msg("assistant", "Rain.")],
            "output": "Rain.",
        },
        id="message-and-choice-events",
    ),
    pytest.param(
        {},
        [
            ("gen_ai.choice", {"message.role": "assistant", "message.content": "Flat."}),
        ],
        {"output_messages": [msg("assistant", "Flat.")]},
        id="choice-with-flattened-message",
    ),
    pytest.param(
        {},
        [
            (
                "gen_ai.content.prompt",
                {"gen_ai.prompt": json.dumps([{"role": "user", "content": "Hi"}])},
            ),
            (
                "gen_ai.content.completion",
                {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "Hello"}])},
            ),
        ],
        {"input_messages": [msg("user", "Hi")], "output_messages": [msg("assistant", "Hello")]},
        id="content-prompt-and-completion-events",
    ),
]


@pytest.mark.parametrize("attributes, events, expected", GENAI_EVENTS_TABLE)
def test_genai_events(attributes, events, expected):
    check(attributes, expected, events=events)


# ---------------------------------------------------------------------------
# OTel GenAI, older flattened attributes (as OpenLLMetry sends them)

GENAI_FLATTENED_TABLE = [
    pytest.param(
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.prompt.name": "a prompt template name, not a message",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Be brief.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Weather?",
            "gen_ai.prompt.2.role": "assistant",
            "gen_ai.prompt.2.tool_calls.0.id": "c1",
            "gen_ai.prompt.2.tool_calls.0.name": "weather",
            "gen_ai.prompt.2.tool_calls.0.arguments": "{}",
            "gen_ai.prompt.3.role": "tool",
            "gen_ai.prompt.3.content": "rain",
            "gen_ai.prompt.3.tool_call_id": "c1",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Rain.",
            "gen_ai.completion.0.finish_reason": "stop",
            "gen_ai.usage.prompt_tokens": 30,
            "gen_ai.usage.completion_tokens": 3,
            "gen_ai.usage.cache_read_input_tokens": 8,
            "gen_ai.usage.cache_creation_input_tokens": 2,
        },
        {
            "kind": "llm",
            "system": "Be brief.",
            "input_messages": [
                msg("system", "Be brief."),
                msg("user", "Weather?"),
                msg("assistant", tool_calls=[call("c1", "weather", "{}")]),
                msg("tool", "rain", tool_call_id="c1"),
            ],
            "output_messages": [msg("assistant", "Rain.")],
            "input": "user: Weather?\nassistant: weather({})\ntool: rain",
            "tokens_in": 30,
            "tokens_out": 3,
            "tokens_cache_read": 8,
            "tokens_cache_write": 2,
        },
        id="prompt-and-completion",
    ),
    pytest.param(
        {
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.tool_calls.0.id": "c9",
            "gen_ai.completion.0.tool_calls.0.name": "lookup",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"q": 1}',
            "gen_ai.completion.1.role": "assistant",
            "gen_ai.completion.1.function_call.name": "legacy",
            "gen_ai.completion.1.function_call.arguments": "{}",
        },
        {
            "output_messages": [
                msg("assistant", tool_calls=[call("c9", "lookup", '{"q": 1}')]),
                msg("assistant", tool_calls=[call(None, "legacy", "{}")]),
            ],
        },
        id="completion-tool-calls-and-function-call",
    ),
    pytest.param(
        {"gen_ai.prompt.10.content": "tenth", "gen_ai.prompt.2.content": "second"},
        {"input_messages": [msg("user", "second"), msg("user", "tenth")]},
        id="numeric-index-order",
    ),
    pytest.param(
        {"gen_ai.prompt": json.dumps([{"role": "user", "content": "json prompt"}])},
        {"input_messages": [msg("user", "json prompt")]},
        id="json-prompt-attribute",
    ),
]


@pytest.mark.parametrize("attributes, expected", GENAI_FLATTENED_TABLE)
def test_genai_flattened(attributes, expected):
    check(attributes, expected)


# ---------------------------------------------------------------------------
# OpenInference

OPENINFERENCE_TABLE = [
    pytest.param(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.provider": "openai",
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Be brief.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.message_content.type": "text",
            "llm.input_messages.1.message.contents.0.message_content.text": "Look at this",
            "llm.input_messages.1.message.contents.1.message_content.type": "image",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.tool_calls.0.tool_call.id": "c1",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "zoom",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{}",
            "llm.token_count.prompt": 50,
            "llm.token_count.completion": 5,
            "llm.token_count.total": 55,
            "llm.token_count.prompt_details.cache_read": 10,
            "llm.token_count.prompt_details.cache_write": 4,
            "llm.token_count.completion_details.reasoning": 2,
            "llm.cost.total": 0.5,
            "input.value": '{"messages": []}',
            "input.mime_type": "application/json",
            "session.id": "s-1",
            "user.id": "u-1",
            "metadata": json.dumps({"tenant": "acme"}),
            "tag.tags": ["beta", "eu"],
        },
        {
            "kind": "llm",
            "model": "gpt-4o-mini",
            "provider": "openai",
            "system": "Be brief.",
            "input_messages": [msg("system", "Be brief."), msg("user", "Look at this\n[image]")],
            "output_messages": [msg("assistant", tool_calls=[call("c1", "zoom", "{}")])],
            "input": "Look at this\n[image]",
            "output": "zoom({})",
            "tokens_in": 50,
            "tokens_out": 5,
            "tokens_cache_read": 10,
            "tokens_cache_write": 4,
            "tokens_reasoning": 2,
            "cost": 0.5,
            "session_id": "s-1",
            "user_id": "u-1",
            "metadata": {"tenant": "acme"},
            "tags": ["beta", "eu"],
        },
        id="llm-flattened-messages",
    ),
    pytest.param(
        {
            "openinference.span.kind": "LLM",
            "llm.system": "anthropic",
            "input.mime_type": "application/json",
            "input.value": json.dumps({"messages": [{"role": "user", "content": "hi"}]}),
            "output.mime_type": "application/json",
            "output.value": json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": "yo"}}]}
            ),
            "llm.cost.prompt": 0.25,
            "llm.cost.completion": 0.5,
        },
        {
            "provider": "anthropic",
            "input_messages": [msg("user", "hi")],
            "output_messages": [msg("assistant", "yo")],
            "cost": 0.75,
        },
        id="llm-messages-from-json-values",
    ),
    pytest.param(
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "search",
            "input.value": "cats",
            "output.value": "many cats",
            "input.mime_type": "text/plain",
        },
        {"kind": "tool", "tool_name": "search", "input": "cats", "output": "many cats"},
        id="tool",
    ),
    pytest.param(
        {"openinference.span.kind": "CHAIN", "input.value": "q", "tag.tags": '["a", "b"]'},
        {"kind": "chain", "input": "q", "tags": ["a", "b"]},
        id="chain-with-json-tags",
    ),
    pytest.param(
        {"openinference.span.kind": "EMBEDDING", "embedding.model_name": "bge"},
        {"kind": "embedding", "model": "bge"},
        id="embedding",
    ),
    pytest.param({"openinference.span.kind": "retriever"}, {"kind": "retriever"}, id="retriever"),
    pytest.param({"openinference.span.kind": "RERANKER"}, {"kind": "reranker"}, id="reranker"),
    pytest.param({"openinference.span.kind": "AGENT"}, {"kind": "agent"}, id="agent"),
    pytest.param({"openinference.span.kind": "GUARDRAIL"}, {"kind": "guardrail"}, id="guardrail"),
    pytest.param({"openinference.span.kind": "EVALUATOR"}, {"kind": "evaluator"}, id="evaluator"),
    pytest.param(
        {"tool_call.function.name": "f", "tool_call.function.arguments": '{"x": 1}'},
        {"tool_name": "f", "input": '{"x": 1}'},
        id="tool-call-function",
    ),
]


@pytest.mark.parametrize("attributes, expected", OPENINFERENCE_TABLE)
def test_openinference(attributes, expected):
    check(attributes, expected)


# ---------------------------------------------------------------------------
# Vercel AI SDK

VERCEL_TABLE = [
    pytest.param(
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "gpt-4o",
            "ai.model.provider": "openai.chat",
            "ai.prompt.messages": json.dumps(
                [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "tool-call",
                                "toolCallId": "c1",
                                "toolName": "weather",
                                "args": {"city": "Oslo"},
                            }
                        ],
                    },
                    {
                        "role": "tool",
                        "content": [
                            {
                                "type": "tool-result",
                                "toolCallId": "c1",
                                "toolName": "weather",
                                "result": "snow",
                            }
                        ],
                    },
                ]
            ),
            "ai.response.text": "Snow.",
            "ai.usage.promptTokens": 40,
            "ai.usage.completionTokens": 2,
        },
        {
            "kind": "llm",
            "operation": "ai.generateText.doGenerate",
            "model": "gpt-4o",
            "provider": "openai.chat",
            "system": "Be brief.",
            "input_messages": [
                msg("system", "Be brief."),
                msg("user", "Weather?"),
                msg("assistant", tool_calls=[call("c1", "weather", '{"city": "Oslo"}')]),
                msg("tool", "snow", tool_call_id="c1", name="weather"),
            ],
            "output_messages": [msg("assistant", "Snow.")],
            "output": "Snow.",
            "tokens_in": 40,
            "tokens_out": 2,
        },
        id="do-generate",
    ),
    pytest.param(
        {
            "ai.operationId": "ai.streamText.doStream",
            "ai.response.toolCalls": json.dumps(
                [
                    {
                        "toolCallType": "function",
                        "toolCallId": "c2",
                        "toolName": "search",
                        "args": '{"q": "x"}',
                    }
                ]
            ),
            "ai.usage.inputTokens": 9,
            "ai.usage.outputTokens": 4,
            "ai.usage.cachedInputTokens": 3,
            "ai.usage.reasoningTokens": 1,
        },
        {
            "kind": "llm",
            "output_messages": [msg("assistant", tool_calls=[call("c2", "search", '{"q": "x"}')])],
            "tokens_in": 9,
            "tokens_out": 4,
            "tokens_cache_read": 3,
            "tokens_reasoning": 1,
        },
        id="tool-calls-and-newer-usage",
    ),
    pytest.param(
        {
            "ai.operationId": "ai.generateText",
            "ai.prompt": json.dumps({"system": "Be kind.", "prompt": "Hello"}),
            "ai.response.text": "Hi!",
            "ai.telemetry.functionId": "greet",
            "ai.telemetry.metadata.sessionId": "s-9",
            "ai.telemetry.metadata.userId": "u-9",
            "ai.telemetry.metadata.plan": "pro",
        },
        {
            "kind": "chain",
            "system": "Be kind.",
            "input_messages": [msg("user", "Hello")],
            "input": "Hello",
            "output": "Hi!",
            "session_id": "s-9",
            "user_id": "u-9",
            "metadata": {"sessionId": "s-9", "userId": "u-9", "plan": "pro"},
        },
        id="generate-text-with-telemetry-metadata",
    ),
    pytest.param(
        {
            "ai.operationId": "ai.toolCall",
            "ai.toolCall.name": "weather",
            "ai.toolCall.id": "c1",
            "ai.toolCall.args": '{"city": "Oslo"}',
            "ai.toolCall.result": '"snow"',
        },
        {"kind": "tool", "tool_name": "weather", "input": '{"city": "Oslo"}', "output": '"snow"'},
        id="tool-call",
    ),
    pytest.param(
        {"ai.operationId": "ai.embedMany", "ai.model.id": "text-embedding-3-small"},
        {"kind": "embedding", "model": "text-embedding-3-small"},
        id="embed-many",
    ),
]


@pytest.mark.parametrize("attributes, expected", VERCEL_TABLE)
def test_vercel_ai(attributes, expected):
    check(attributes, expected)


# ---------------------------------------------------------------------------
# Traceloop / OpenLLMetry

TRACELOOP_TABLE = [
    pytest.param(
        {
            "traceloop.span.kind": "workflow",
            "traceloop.entity.name": "answer_question",
            "traceloop.entity.input": json.dumps({"args": ["why?"], "kwargs": {}}),
            "traceloop.entity.output": '"because"',
            "traceloop.association.properties.session_id": "s-3",
            "traceloop.association.properties.user_id": "u-3",
            "traceloop.association.properties.team": "blue",
        },
        {
            "kind": "chain",
            "input": '{"args": ["why?"], "kwargs": {}}',
            "output": '"because"',
            "session_id": "s-3",
            "user_id": "u-3",
            "metadata": {"session_id": "s-3", "user_id": "u-3", "team": "blue"},
            "tool_name": None,
        },
        id="workflow",
    ),
    pytest.param({"traceloop.span.kind": "task"}, {"kind": "chain"}, id="task"),
    pytest.param({"traceloop.span.kind": "agent"}, {"kind": "agent"}, id="agent"),
    pytest.param(
        {"traceloop.span.kind": "tool", "traceloop.entity.name": "calculator"},
        {"kind": "tool", "tool_name": "calculator"},
        id="tool",
    ),
    pytest.param(
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.prompt_tokens": 20,
            "llm.usage.total_tokens": 26,
        },
        {"kind": "llm", "operation": "chat", "tokens_in": 20, "tokens_out": 6},
        id="llm-request-with-total-tokens",
    ),
    pytest.param(
        {"llm.request.type": "embedding", "gen_ai.request.model": "ada"},
        {"kind": "embedding"},
        id="embedding-request",
    ),
    pytest.param({"llm.request.type": "rerank"}, {"kind": "reranker"}, id="rerank-request"),
]


@pytest.mark.parametrize("attributes, expected", TRACELOOP_TABLE)
def test_traceloop(attributes, expected):
    check(attributes, expected)


# ---------------------------------------------------------------------------
# Langfuse

LANGFUSE_TABLE = [
    pytest.param(
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "gpt-4o",
            "langfuse.observation.input": json.dumps([{"role": "user", "content": "Hi"}]),
            "langfuse.observation.output": json.dumps({"role": "assistant", "content": "Hello"}),
            "langfuse.observation.usage_details": json.dumps(
                {
                    "input": 11,
                    "output": 3,
                    "cache_read_input_tokens": 5,
                    "output_reasoning_tokens": 1,
                }
            ),
            "langfuse.observation.cost_details": json.dumps(
                {"input": 0.1, "output": 0.2, "total": 0.3}
            ),
            "langfuse.session.id": "s-7",
            "langfuse.user.id": "u-7",
            "langfuse.trace.tags": ["prod", "v2"],
            "langfuse.release": "2024.05.1",
            "langfuse.environment": "production",
            "langfuse.trace.metadata.tenant": "acme",
            "langfuse.observation.metadata": json.dumps({"step": 2}),
        },
        {
            "kind": "llm",
            "model": "gpt-4o",
            "input_messages": [msg("user", "Hi")],
            "input": "Hi",
            "output_messages": [msg("assistant", "Hello")],
            "output": "Hello",
            "tokens_in": 11,
            "tokens_out": 3,
            "tokens_cache_read": 5,
            "tokens_reasoning": 1,
            "cost": 0.3,
            "session_id": "s-7",
            "user_id": "u-7",
            "tags": ["prod", "v2"],
            "release": "2024.05.1",
            "environment": "production",
            "metadata": {"step": 2, "tenant": "acme"},
        },
        id="generation",
    ),
    pytest.param(
        {
            "langfuse.observation.type": "span",
            "langfuse.version": "v3",
            "langfuse.observation.cost_details": '{"input": 0.5, "output": 0.25}',
            "langfuse.trace.tags": '["a"]',
        },
        {"kind": "span", "release": "v3", "cost": 0.75, "tags": ["a"]},
        id="span-version-as-release-cost-sum",
    ),
    pytest.param(
        {"langfuse.observation.type": "tool", "langfuse.observation.input": "plain text"},
        {"kind": "tool", "input": "plain text", "input_messages": None},
        id="tool-plain-input",
    ),
    pytest.param(
        {
            "langfuse.observation.type": "event",
            "langfuse.observation.level": "ERROR",
            "langfuse.observation.status_message": "quota exceeded",
        },
        {"kind": "span", "status": "error", "error": "quota exceeded"},
        id="error-level",
    ),
    pytest.param(
        {   # what langfuse.openai sends: the one choice's message, tool calls and all
            "langfuse.observation.type": "generation",
            "langfuse.observation.output": json.dumps({
                "role": "assistant", "content": None, "refusal": None, "function_call": None,
                "tool_calls": [{"id": "call_1", "type": "function",
                                "function": {"name": "lookup", "arguments": '{"city": "Oslo"}'}}],
            }),
        },
        {
            "output_messages": [msg("assistant", "", [
                {"id": "call_1", "name": "lookup", "arguments": '{"city": "Oslo"}'}])],
            "output": 'lookup({"city": "Oslo"})',
        },
        id="openai-message-with-tool-call",
    ),
    pytest.param(
        {"langfuse.observation.output": json.dumps({"answer": 42})},
        {"output_messages": None, "output": '{"answer": 42}'},
        id="object-that-is-no-message-stays-text",
    ),
    pytest.param(
        {
            "langfuse.trace.name": "support-turn",
            "langfuse.trace.input": json.dumps({"question": "Opening hours?"}),
            "langfuse.trace.output": "9 to 5",
        },
        {"trace_name": "support-turn", "trace_input": '{"question": "Opening hours?"}',
         "trace_output": "9 to 5", "name": "span"},
        id="trace-name-input-output",
    ),
    pytest.param({"langfuse.observation.type": "agent"}, {"kind": "agent"}, id="agent"),
    pytest.param({"langfuse.observation.type": "retriever"}, {"kind": "retriever"}, id="retriever"),
    pytest.param({"langfuse.observation.type": "evaluator"}, {"kind": "evaluator"}, id="evaluator"),
    pytest.param({"langfuse.observation.type": "guardrail"}, {"kind": "guardrail"}, id="guardrail"),
    pytest.param({"langfuse.observation.type": "embedding"}, {"kind": "embedding"}, id="embedding"),
    pytest.param({"langfuse.observation.type": "chain"}, {"kind": "chain"}, id="chain"),
]


@pytest.mark.parametrize("attributes, expected", LANGFUSE_TABLE)
def test_langfuse(attributes, expected):
    check(attributes, expected)


def test_langfuse_release_on_the_resource_outranks_service_version():
    check({"langfuse.observation.type": "span"}, {"release": "rel-9"},
          resource={"service.version": "1.0", "langfuse.release": "rel-9"})


# ---------------------------------------------------------------------------
# Plain OpenTelemetry: resource, status, exception events

OTEL_TABLE = [
    pytest.param(
        {"http.request.method": "GET", "http.response.status_code": 200},
        {},
        {
            "service.name": "api",
            "service.version": "1.4.2",
            "deployment.environment.name": "staging",
        },
        ("unset", None),
        {
            "kind": "span",
            "release": "1.4.2",
            "environment": "staging",
            "status": "unset",
            "error": None,
        },
        id="resource-release-and-environment",
    ),
    pytest.param(
        {"deployment.environment": "dev", "service.version": "0.1", "enduser.id": "u-5"},
        {},
        {},
        ("ok", None),
        {"release": "0.1", "environment": "dev", "user_id": "u-5", "status": "ok"},
        id="span-attribute-fallbacks",
    ),
    pytest.param(
        {},
        {"exception": {"exception.type": "ValueError", "exception.message": "bad input"}},
        {},
        ("error", None),
        {"status": "error", "error": "ValueError: bad input"},
        id="exception-event",
    ),
    pytest.param(
        {"error.type": "timeout"},
        {"exception": {"exception.type": "ValueError"}},
        {},
        ("error", "upstream failed"),
        {"status": "error", "error": "upstream failed"},
        id="status-message-first",
    ),
    pytest.param(
        {"error.type": "timeout"}, {}, {}, ("error", None), {"error": "timeout"}, id="error-type"
    ),
    pytest.param(
        {},
        {"exception": {"exception.type": "Handled"}},
        {},
        ("ok", None),
        {"status": "ok", "error": None},
        id="handled-exception-is-no-error",
    ),
]


@pytest.mark.parametrize("attributes, events, resource, status, expected", OTEL_TABLE)
def test_plain_otel(attributes, events, resource, status, expected):
    check(
        attributes,
        expected,
        events=list(events.items()),
        resource=resource,
        status=status[0],
        message=status[1],
    )


# ---------------------------------------------------------------------------
# Precedence across conventions: first match wins, in the documented order

PRECEDENCE_TABLE = [
    pytest.param(
        {"llm.model_name": "oi-model", "gen_ai.request.model": "genai-model", "ai.model.id": "v"},
        {"model": "genai-model"},
        id="genai-before-openinference-and-vercel",
    ),
    pytest.param(
        {"session.id": "general", "gen_ai.conversation.id": "genai", "langfuse.session.id": "lf"},
        {"session_id": "genai"},
        id="conversation-id-first",
    ),
    pytest.param(
        {"session.id": "general", "langfuse.session.id": "lf"},
        {"session_id": "lf"},
        id="langfuse-before-general-session",
    ),
    pytest.param(
        {"openinference.span.kind": "TOOL", "langfuse.observation.type": "generation"},
        {"kind": "tool"},
        id="openinference-kind-before-langfuse",
    ),
    pytest.param(
        {"langfuse.release": "lf", "service.version": "svc"},
        {"release": "lf"},
        id="langfuse-release-before-service-version",
    ),
    pytest.param({"tag.tags": ["oi"], "langfuse.trace.tags": ["lf"]}, {"tags": ["oi"]}, id="tags"),
    pytest.param(
        {"gen_ai.usage.input_tokens": "n/a", "llm.token_count.prompt": 7},
        {"tokens_in": 7},
        id="unusable-value-falls-through",
    ),
    pytest.param(
        {"metadata": json.dumps({"k": "oi"}), "langfuse.trace.metadata.k": "lf"},
        {"metadata": {"k": "oi"}},
        id="metadata-earlier-wins-per-key",
    ),
]


@pytest.mark.parametrize("attributes, expected", PRECEDENCE_TABLE)
def test_precedence(attributes, expected):
    check(attributes, expected)


# ---------------------------------------------------------------------------
# Hostile values


def test_json_safe_cleans_text_numbers_bytes_and_depth():
    deep: dict = {"leaf": 1}
    for _ in range(MAX_DEPTH + 5):
        deep = {"d": deep}
    value = json_safe(
        {
            "nul": "a\x00b",
            "lone": "x\ud800y",
            "nan": math.nan,
            "inf": -math.inf,
            "raw": b"\x00\xff",
            "deep": deep,
        }
    )
    assert value["nul"] == "ab"
    assert value["lone"] == "x\ufffdy"
    assert (value["nan"], value["inf"]) == ("NaN", "-Infinity")
    assert value["raw"] == "AP8="
    node = value["deep"]
    for _ in range(MAX_DEPTH - 1):
        node = node["d"]
    assert isinstance(node, str) and json.loads(node)["d"]["d"]


def test_huge_text_is_capped_with_a_marker():
    span = record({"input.value": "x" * (MAX_TEXT_CHARS + 10), "llm.model_name": "m" * 5000})
    kept = span.input.index("…")
    assert span.input == "x" * kept + TRUNCATION_MARKER.format(count=MAX_TEXT_CHARS + 10 - kept)
    assert len(span.input) <= MAX_TEXT_CHARS and kept > MAX_TEXT_CHARS - 50
    assert span.model.startswith("m" * 400) and len(span.model) <= MAX_LABEL_CHARS


def test_escapes_inside_json_attributes_are_cleaned():
    text = '[{"role": "user", "content": "a\\u0000b\\udc00c"}]'
    assert parse_json(text) == [{"role": "user", "content": "abc".replace("bc", "b\ufffdc")}]
    assert record({"gen_ai.input.messages": text}).input == "ab\ufffdc"


def test_surrogate_pairs_in_json_are_kept():
    assert parse_json('["\\ud83d\\ude00"]') == ["\U0001f600"]


@pytest.mark.parametrize(
    "value",
    [
        "[" * 5000 + "]" * 5000,
        '[{"role": "user", "content": ' + "[" * 3000 + "]" * 3000 + "}]",
        '[{"role": 5, "content": {"nested": NaN}, "tool_calls": "nope"}]',
        '[{"role": "user", "parts": [1, null, {"type": null}, {"type": "tool_call"}]}]',
        json.dumps([{"role": "x" * 10_000, "content": 12345678901234567890123}]),
    ],
)
def test_odd_message_shapes_never_raise(value):
    span = record({"gen_ai.input.messages": value, "llm.input_messages.0.message": {"x": 1}})
    json.dumps(span.input_messages, allow_nan=False).encode("utf-8")


def test_messages_in_every_shape_normalise_to_one_shape():
    messages = normalize_messages(
        [
            {"role": "user", "content": "plain"},
            {"role": "user", "content": [{"type": "text", "text": "openai part"}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
            },
            {
                "role": "assistant",
                "tool_calls": [{"id": "t2", "function": {"name": "g", "arguments": "{}"}}],
            },
        ]
    )
    assert messages == [
        msg("user", "plain"),
        msg("user", "openai part"),
        msg("assistant", tool_calls=[call("t1", "f", '{"a": 1}')]),
        msg("tool", "ok", tool_call_id="t1"),
        msg("assistant", tool_calls=[call("t2", "g", "{}")]),
    ]
