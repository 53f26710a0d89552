"""Labelled trace views and the text fields evaluators read from them.

An example is a JSON-able dict (a "trace view"); everything but `id` is
optional, and evaluators must cope with any field missing. Trace content is
hostile user data: it is only ever read as text, never evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

# Fewer labelled examples of either label than this: nothing is generated. Here, with no numpy,
# because the web process reads it (the evaluator list says how many labels an issue needs).
MIN_PER_LABEL = 8

LABELS = ("pass", "fail")

# Fields a rule can read. "conversation" is every user/assistant message,
# "tool_calls" renders each call as `name(arguments)`, "tool_results" the tool
# answers, "metadata" flattens to `key=value` lines.
TEXT_FIELDS = (
    "output",
    "input",
    "system",
    "conversation",
    "tool_calls",
    "tool_results",
    "metadata",
)

# Long traces are cut before text features are computed so that one huge
# trace cannot stall a batch; head and tail are kept because failures often
# show at the end of a conversation.
MAX_FIELD_CHARS = 20_000


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str = ""
    id: str = ""


@dataclass(frozen=True)
class Message:
    role: str
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class Span:
    name: str = ""
    kind: str = ""
    status: str = "ok"
    error: str = ""
    latency_ms: float | None = None
    tokens_in: float | None = None
    tokens_out: float | None = None
    tool_name: str = ""
    tool_arguments: str = ""


@dataclass(frozen=True)
class Example:
    """One trace view; `label` is None for unlabelled traffic."""

    id: str
    input: str = ""
    output: str = ""
    label: str | None = None
    feedback: str = ""
    group: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    messages: tuple[Message, ...] = ()
    system: str = ""
    spans: tuple[Span, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Example":
        if not isinstance(data, Mapping):
            raise ValueError("an example must be a JSON object")
        if "id" not in data:
            raise ValueError("an example needs an 'id'")
        label = data.get("label")
        if label is not None and label not in LABELS:
            raise ValueError(f"example {data['id']!r}: label must be 'pass' or 'fail', got {label!r}")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            metadata = {"value": metadata}
        group = data.get("group")
        return cls(
            id=str(data["id"]),
            input=_as_text(data.get("input")),
            output=_as_text(data.get("output")),
            label=label,
            feedback=_as_text(data.get("feedback")),
            group=None if group is None else str(group),
            metadata=dict(metadata),
            messages=tuple(_message(m) for m in data.get("messages") or () if isinstance(m, Mapping)),
            system=_as_text(data.get("system")),
            spans=tuple(_span(s) for s in data.get("spans") or () if isinstance(s, Mapping)),
        )

    @property
    def is_fail(self) -> bool:
        return self.label == "fail"

    @property
    def group_key(self) -> str:
        """Examples of one group stay on one side of every split; alone, an example is its own group."""
        return f"g:{self.group}" if self.group is not None else f"id:{self.id}"

    def all_tool_calls(self) -> list[ToolCall]:
        calls = [call for message in self.messages for call in message.tool_calls]
        if calls:
            return calls
        return [ToolCall(s.tool_name or s.name, s.tool_arguments) for s in self.spans if s.tool_name]


def as_examples(items: Iterable[Example | Mapping[str, Any]]) -> list[Example]:
    return [item if isinstance(item, Example) else Example.from_dict(item) for item in items]


def field_text(example: Example, name: str) -> str:
    """The text of one field, clipped to MAX_FIELD_CHARS."""
    try:
        reader = _FIELD_READERS[name]
    except KeyError:
        raise ValueError(f"unknown field {name!r}; known: {', '.join(TEXT_FIELDS)}") from None
    return _clip(reader(example))


def field_texts(examples: list[Example], name: str) -> list[str]:
    return [field_text(example, name) for example in examples]


def trace_text(example: Example) -> str:
    """Everything a reader of the trace would see, in reading order (for judges)."""
    parts = []
    if example.system:
        parts.append(f"[system]\n{_clip(example.system, 4000)}")
    if example.messages:
        parts.append(_conversation(example, with_tools=True))
    else:
        if example.input:
            parts.append(f"[input]\n{example.input}")
        if example.output:
            parts.append(f"[output]\n{example.output}")
    if example.metadata:
        parts.append(f"[metadata]\n{_metadata_text(example)}")
    return _clip("\n\n".join(parts))


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _message(data: Mapping[str, Any]) -> Message:
    calls = []
    for call in data.get("tool_calls") or ():
        if not isinstance(call, Mapping):
            continue
        # Accept both the flat shape and OpenAI's {"function": {...}} shape.
        function = call.get("function") if isinstance(call.get("function"), Mapping) else call
        calls.append(
            ToolCall(
                name=_as_text(function.get("name")),
                arguments=_as_text(function.get("arguments")),
                id=_as_text(call.get("id")),
            )
        )
    return Message(
        role=_as_text(data.get("role")) or "user",
        content=_as_text(data.get("content")),
        tool_calls=tuple(calls),
        tool_call_id=_as_text(data.get("tool_call_id")),
        name=_as_text(data.get("name")),
    )


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _span(data: Mapping[str, Any]) -> Span:
    status = _as_text(data.get("status")).lower() or "ok"
    return Span(
        name=_as_text(data.get("name")),
        kind=_as_text(data.get("kind")),
        status="error" if status == "error" else "ok",
        error=_as_text(data.get("error")),
        latency_ms=_number(data.get("latency_ms")),
        tokens_in=_number(data.get("tokens_in")),
        tokens_out=_number(data.get("tokens_out")),
        tool_name=_as_text(data.get("tool_name")),
        tool_arguments=_as_text(data.get("tool_arguments")),
    )


def _clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + "\n…\n" + text[-half:]


def _conversation(example: Example, with_tools: bool = False) -> str:
    lines = []
    for message in example.messages:
        if message.role == "system":
            continue
        if message.role == "tool" and not with_tools:
            continue
        if message.content:
            lines.append(f"{message.role}: {message.content}")
        if with_tools:
            lines.extend(f"{message.role} calls {c.name}({c.arguments})" for c in message.tool_calls)
    if not lines:
        lines = [f"user: {example.input}", f"assistant: {example.output}"]
    return "\n".join(lines)


def _metadata_text(example: Example) -> str:
    return "\n".join(f"{key}={_as_text(value)}" for key, value in sorted(example.metadata.items()))


def _system(example: Example) -> str:
    if example.system:
        return example.system
    return "\n".join(m.content for m in example.messages if m.role == "system")


_FIELD_READERS = {
    "output": lambda e: e.output,
    "input": lambda e: e.input,
    "system": _system,
    "conversation": _conversation,
    "tool_calls": lambda e: "\n".join(f"{c.name}({c.arguments})" for c in e.all_tool_calls()),
    "tool_results": lambda e: "\n".join(m.content for m in e.messages if m.role == "tool"),
    "metadata": _metadata_text,
}
