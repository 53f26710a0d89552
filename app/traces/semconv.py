"""Map a span's raw OpenTelemetry attributes to Sextant's first-class span fields.

Pure functions only: no database, no web framework. `map_span(RawSpan) -> SpanRecord`
is the entry point; every raw attribute is kept on the record as well.

Precedence — first match wins, field by field. The conventions are read in this order:

1. OTel GenAI semantic conventions (`gen_ai.*`, incl. span events and the older
   flattened `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`),
2. OpenInference (`openinference.span.kind`, `llm.*`, `input.value`, `metadata`, ...),
3. Vercel AI SDK (`ai.*`),
4. Traceloop / OpenLLMetry (`traceloop.*`, `llm.request.type`, `llm.usage.*`),
5. Langfuse (`langfuse.*`),
6. general OpenTelemetry (`session.id`, `user.id`, `enduser.id`, `service.version`,
   `deployment.environment.name` / `deployment.environment`).

A field takes the first usable value (an unreadable one, e.g. a token count "n/a", is
skipped) from its list of sources, each list in the order above:
- scalar fields (model, provider, operation, tool name, token counts, cost, session,
  user, tags, release, environment, plain input/output text): `SCALAR_FIELDS`; a
  resource attribute (`RESOURCE_FIELDS`) outranks the same key on the span;
- span kind: `KIND_SOURCES`;
- chat messages: `INPUT_MESSAGE_SOURCES` / `OUTPUT_MESSAGE_SOURCES`. GenAI messages come
  from `gen_ai.input.messages` / `gen_ai.output.messages` (parts-based, JSON text or
  structured), then the `gen_ai.*.message` / `gen_ai.choice` events, then the flattened
  `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`, then the JSON `gen_ai.prompt` /
  `gen_ai.completion`; then OpenInference's `llm.input_messages.N.message.*`, and so on;
- metadata: `METADATA_SOURCES`, merged; on a clash the earlier source wins.

Derived fields:
- `input` / `output` are display and search text: the text of the chat messages when
  there are any (system messages left out: they are in `system`), otherwise the plain
  value (tool arguments and results, `input.value`, ...).
- `system`: `gen_ai.system_instructions`, then the `system` of Vercel's `ai.prompt`,
  then the system-role input messages.
- Token counts fall back to Langfuse's `usage_details`; `tokens_out` to total tokens
  minus input tokens. Cost falls back to OpenInference's prompt + completion cost, then
  Langfuse's `cost_details`.
- `kind` falls back to `llm` when a model and messages or token counts are present,
  otherwise `span`.
- Status is the OTLP status; a Langfuse observation of level ERROR also counts as an
  error. The error text is the status message, then the first `exception` event
  (`type: message`), then `langfuse.observation.status_message`, then `error.type`.

Safety (values go to Postgres text and JSONB columns; trace content is hostile):
- NUL characters are removed and invalid UTF-8 / lone surrogates are replaced with
  U+FFFD.
- Free text (attribute values, messages, input/output) is capped at `MAX_TEXT_CHARS`
  characters, the end replaced by a `TRUNCATION_MARKER`; identifiers and labels (name,
  model, provider, session and user ids, tags, ...) at `MAX_LABEL_CHARS`, which keeps
  them under the btree index entry limit; attribute keys at `MAX_KEY_CHARS`.
- JSON values nested deeper than `MAX_DEPTH` levels are replaced by their JSON text.
- Non-finite floats become the strings "NaN", "Infinity", "-Infinity" (as in OTLP/JSON).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MAX_TEXT_CHARS = 1_000_000
MAX_LABEL_CHARS = 512
MAX_KEY_CHARS = 1024
MAX_DEPTH = 20
MAX_TAGS = 100
TRUNCATION_MARKER = "…[truncated {count} characters]"
_MARKER_ROOM = 40  # the marker with any count up to 20 digits

KINDS = (
    "llm",
    "embedding",
    "tool",
    "agent",
    "chain",
    "retriever",
    "reranker",
    "guardrail",
    "evaluator",
    "span",
)
STATUSES = ("ok", "error", "unset")

# Far above any real call, and low enough that a trace's sums never overflow int64.
MAX_TOKEN_COUNT = 10**12


@dataclass(slots=True)
class SpanRecord:
    """One span, normalised; every value is JSON-safe and fit for Postgres."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time: datetime
    end_time: datetime | None = None
    kind: str = "span"
    status: str = "unset"
    error: str | None = None
    model: str | None = None
    provider: str | None = None
    operation: str | None = None
    tool_name: str | None = None
    input: str | None = None
    output: str | None = None
    input_messages: list[dict] | None = None
    output_messages: list[dict] | None = None
    system: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_cache_read: int | None = None
    tokens_cache_write: int | None = None
    tokens_reasoning: int | None = None
    cost: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    tags: list[str] = field(default_factory=list)
    release: str | None = None
    environment: str | None = None
    metadata: dict = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)
    resource: dict = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    scope: str | None = None
    # What the span says of its whole trace (Langfuse's `langfuse.trace.*`): these outrank
    # the root span's name, input and output as the trace's.
    trace_name: str | None = None
    trace_input: str | None = None
    trace_output: str | None = None


@dataclass(slots=True)
class RawSpan:
    """A decoded span before mapping; attributes, events and resource already JSON-safe."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time: datetime
    end_time: datetime | None
    status: str
    status_message: str | None
    attributes: dict
    events: list[dict]
    resource: dict
    scope: str | None


# ---------------------------------------------------------------------------
# JSON safety


def clean_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Strip NUL, replace what UTF-8 cannot encode, cap the length."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # Via UTF-16, a lone surrogate becomes one U+FFFD and a split pair is rejoined.
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if len(text) > limit:
        # Cut early enough for the marker to fit: the result is at most `limit` long,
        # so cleaning it again changes nothing.
        kept = limit - _MARKER_ROOM
        text = text[:kept] + TRUNCATION_MARKER.format(count=len(text) - kept)
    return text


def json_safe(value: Any, depth: int = 0) -> Any:
    """A copy of `value` that Postgres JSONB accepts (see the module notes)."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return finite_or_text(value)
    if depth >= MAX_DEPTH and isinstance(value, (dict, list, tuple)):
        return stringify(value)
    if isinstance(value, dict):
        return {
            clean_text(str(key), MAX_KEY_CHARS): json_safe(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [json_safe(item, depth + 1) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return clean_text(str(value))


def finite_or_text(number: float) -> float | str:
    if math.isfinite(number):
        return number
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


def stringify(value: Any) -> str:
    """JSON text of a value too deep to keep as structure."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        text = "[value nested too deeply to keep]"
    return clean_text(text)


# A JSON escape that decodes to NUL or to a lone surrogate: only text holding one
# needs a full `json_safe` walk after parsing.
_UNSAFE_ESCAPE = re.compile(
    r"\\u(?:0000"
    r"|[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    r"|(?<![dD][89abAB][0-9a-fA-F]{2}\\u)[dD][c-fC-F][0-9a-fA-F]{2})"
)


_JSON_OPENERS = ("{", "[")
# One decoder for all calls: json.loads with options builds a new one each time.
_JSON_DECODER = json.JSONDecoder(parse_constant=str)


def parse_json(text: Any) -> Any:
    """The value of a JSON object/array string; None when it is not one.

    `text` must already be clean (see `clean_text`): then every string inside is clean
    and within the length cap too, unless an escape decodes to NUL or a lone surrogate.
    NaN and Infinity come back as strings. Nesting is not capped here: callers keep only
    flat fields, or pass what they keep through `json_safe`.
    """
    if not isinstance(text, str):
        return None
    if not text.startswith(_JSON_OPENERS) and not text.lstrip().startswith(_JSON_OPENERS):
        return None
    try:
        value = _JSON_DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    unsafe = "\\u" in text and _UNSAFE_ESCAPE.search(text)
    return json_safe(value) if unsafe else value


# ---------------------------------------------------------------------------
# Scalar readers


def _label(value: Any, limit: int = MAX_LABEL_CHARS) -> str | None:
    if type(value) is str:
        text = value.strip()
        if len(text) <= limit and text.isascii() and "\x00" not in text:
            return text or None  # the common case, without a call
        return clean_text(text, limit) or None
    if value is None or isinstance(value, (dict, list)):
        return None
    return clean_text(str(value).strip(), limit) or None


def _text(value: Any) -> str | None:
    """Display text of a value: strings as they are, structures as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    return stringify(value)


def _count(value: Any) -> int | None:
    """A token count up to MAX_TOKEN_COUNT, from an int, integral float or digit string."""
    if type(value) is int:
        return value if 0 <= value <= MAX_TOKEN_COUNT else None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and value.strip().isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return None


def _money(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _first(attributes: dict, keys: Iterable[str], read: Callable[[Any], Any]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            value = read(value)
            if value is not None:
                return value
    return None


def _tags(value: Any) -> list[str] | None:
    if isinstance(value, str):
        parsed = parse_json(value)
        value = parsed if isinstance(parsed, list) else value.split(",")
    if not isinstance(value, list):
        return None
    tags = dict.fromkeys(tag for tag in map(_label, value) if tag)
    return list(tags)[:MAX_TAGS] or None


def _as_dict(value: Any) -> dict:
    if isinstance(value, str):
        value = parse_json(value)
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------------------
# Flattened attributes (`prefix.N.rest`)

# Every prefix under which a convention flattens lists or maps into dotted keys.
_FLAT_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
    "ai.telemetry.metadata.",
    "traceloop.association.properties.",
    "langfuse.trace.metadata.",
    "langfuse.observation.metadata.",
)


def _flattened(attributes: dict) -> dict:
    """Only the keys under a flattening prefix: the rest never needs a scan."""
    return {key: value for key, value in attributes.items() if key.startswith(_FLAT_PREFIXES)}


def _under(flat: dict, prefix: str) -> dict:
    return {key[len(prefix) :]: value for key, value in flat.items() if key.startswith(prefix)}


def _unflatten(flat: dict) -> dict:
    """{"0.role": "user", "0.tool_calls.1.name": "f"} -> nested dicts, digit keys kept."""
    root: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".", MAX_DEPTH)
        node = root
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node.setdefault(leaf, value)
    return root


def _indexed(node: Any) -> list:
    """The values of a dict keyed by list indices, in index order."""
    if isinstance(node, list):
        return node
    if not isinstance(node, dict):
        return []
    indices = sorted((int(key), key) for key in node if key.isdigit())
    return [node[key] for _, key in indices]


# ---------------------------------------------------------------------------
# Chat messages


def _message(role: Any, content: str = "", tool_calls=None, tool_call_id=None, name=None):
    return {
        "role": role if type(role) is str and 0 < len(role) <= 32 else _label(role) or "user",
        "content": content if len(content) <= MAX_TEXT_CHARS else clean_text(content),
        "tool_calls": tool_calls or [],
        "tool_call_id": _label(tool_call_id),
        "name": _label(name),
    }


def _tool_call(call: Any) -> dict | None:
    """One tool call from OpenAI, GenAI-parts, Vercel, or Anthropic shapes."""
    if not isinstance(call, dict):
        return None
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    arguments = next(
        (
            value
            for value in (
                function.get("arguments"),
                call.get("arguments"),
                call.get("args"),
                call.get("input"),
            )
            if value is not None
        ),
        None,
    )
    return {
        "id": _label(call.get("id") or call.get("toolCallId") or call.get("tool_call_id")),
        "name": _label(function.get("name") or call.get("name") or call.get("toolName")),
        "arguments": _text(arguments) or "",
    }


def _tool_calls(calls: Any) -> list[dict]:
    if isinstance(calls, str):
        calls = parse_json(calls)
    return [call for call in map(_tool_call, _indexed(calls)) if call]


_TEXT_PARTS = {"text", "input_text", "output_text"}
_TOOL_CALL_PARTS = {"tool_call", "tool-call", "tool_use", "function_call"}
_TOOL_RESULT_PARTS = {"tool_call_response", "tool-result", "tool_result"}
_HIDDEN_PARTS = {"reasoning", "thinking", "redacted_thinking"}


def _read_parts(parts: list, texts: list, calls: list, results: list) -> None:
    """Sort content parts into text, tool calls and tool results."""
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in _TEXT_PARTS or (kind is None and "text" in part):
            texts.append(_text(part.get("text", part.get("content"))) or "")
        elif kind in _TOOL_CALL_PARTS:
            calls.append(_tool_call(part))
        elif kind in _TOOL_RESULT_PARTS:
            results.append(part)
        elif kind not in _HIDDEN_PARTS:
            texts.append(f"[{_label(kind) or 'content'}]")


def _tool_result_message(part: dict, message_name: Any) -> dict:
    result = next(
        (part[key] for key in ("response", "result", "output", "content") if key in part), None
    )
    return _message(
        "tool",
        _text(result) or "",
        tool_call_id=part.get("id") or part.get("toolCallId") or part.get("tool_use_id"),
        name=part.get("toolName") or part.get("name") or message_name,
    )


def _normalize_message(item: Any, default_role: str) -> list[dict]:
    """One source message as one or more normalised messages (tool results split out)."""
    if isinstance(item, str):
        return [_message(default_role, item)]
    if not isinstance(item, dict):
        return []
    texts: list = []
    raw_calls = item.get("tool_calls") or item.get("toolCalls")
    calls = _tool_calls(raw_calls) if raw_calls else []
    results: list = []
    content = item.get("content")
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        _read_parts(content, texts, calls, results)
    elif content is not None:
        texts.append(_text(content) or "")
    parts = item.get("parts")
    if isinstance(parts, list):
        _read_parts(parts, texts, calls, results)
    messages = [_tool_result_message(part, item.get("name")) for part in results]
    if texts or calls or not messages:
        own = _message(
            item.get("role") or default_role,
            texts[0] if len(texts) == 1 else "\n".join(texts),
            calls,
            item.get("tool_call_id") or item.get("toolCallId"),
            item.get("name"),
        )
        messages.insert(0, own)
    return messages


def normalize_messages(value: Any, default_role: str = "user") -> list[dict] | None:
    """Chat messages from a list (or JSON text) of messages in any known shape.

    Accepts OTel GenAI parts-based messages, OpenAI chat messages, Vercel AI SDK and
    Anthropic content parts, and an object with a `messages` list. None when the value
    is not a list of messages.
    """
    if isinstance(value, str):
        value = parse_json(value)
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(item, dict) and ("role" in item or "parts" in item) for item in value):
        return None
    messages = [message for item in value for message in _normalize_message(item, default_role)]
    return messages or None


def messages_text(messages: list[dict] | None) -> str | None:
    """Display text: one message's text alone, several as `role: text` lines."""
    if not messages:
        return None
    shown = [message for message in messages if message["role"] != "system"] or messages
    lines = [_message_line(message, prefix=len(shown) > 1) for message in shown]
    return clean_text("\n".join(line for line in lines if line)) or None


def _message_line(message: dict, prefix: bool) -> str:
    calls = [f"{call['name']}({call['arguments']})" for call in message["tool_calls"]]
    text = "\n".join(part for part in [message["content"], *calls] if part)
    return f"{message['role']}: {text}" if prefix else text


def _system_text(messages: list[dict] | None) -> str | None:
    texts = [m["content"] for m in messages or () if m["role"] == "system" and m["content"]]
    return clean_text("\n".join(texts)) if texts else None


def _system_instructions(value: Any) -> str | None:
    """`gen_ai.system_instructions`: text, or a list of parts."""
    parsed = parse_json(value) if isinstance(value, str) else value
    if isinstance(parsed, list):
        texts: list = []
        _read_parts(parsed, texts, [], [])
        return clean_text("\n".join(texts)) or None
    return _text(value)


# ---------------------------------------------------------------------------
# Where each field comes from, in precedence order: GenAI, OpenInference, Vercel AI,
# Traceloop, Langfuse, general OTel. Keys within a tuple are tried in order.

SCALAR_FIELDS: dict[str, tuple[str, ...]] = {
    "operation": ("gen_ai.operation.name", "ai.operationId", "llm.request.type"),
    "model": (
        "gen_ai.response.model",
        "gen_ai.request.model",
        "llm.response.model_name",
        "llm.model_name",
        "llm.request.model_name",
        "embedding.model_name",
        "ai.response.model",
        "ai.model.id",
        "langfuse.observation.model.name",
    ),
    "provider": (
        "gen_ai.provider.name",
        "gen_ai.system",
        "llm.provider",
        "llm.system",
        "ai.model.provider",
    ),
    "tool_name": ("gen_ai.tool.name", "tool.name", "tool_call.function.name", "ai.toolCall.name"),
    "system": ("gen_ai.system_instructions",),
    # Plain input/output text, used when a span has no chat messages.
    "input": (
        "gen_ai.tool.call.arguments",
        "input.value",
        "tool_call.function.arguments",
        "ai.toolCall.args",
        "ai.prompt",
        "traceloop.entity.input",
        "langfuse.observation.input",
    ),
    "output": (
        "gen_ai.tool.call.result",
        "output.value",
        "ai.toolCall.result",
        "ai.response.object",
        "traceloop.entity.output",
        "langfuse.observation.output",
    ),
    "tokens_in": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
        "ai.usage.inputTokens",
        "ai.usage.promptTokens",
    ),
    "tokens_out": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
        "ai.usage.outputTokens",
        "ai.usage.completionTokens",
    ),
    "tokens_cache_read": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",  # OpenLLMetry's older spelling
        "llm.token_count.prompt_details.cache_read",
        "ai.usage.cachedInputTokens",
        "ai.usage.inputTokenDetails.cacheReadTokens",
    ),
    "tokens_cache_write": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",  # OpenLLMetry's older spelling
        "llm.token_count.prompt_details.cache_write",
        "ai.usage.inputTokenDetails.cacheWriteTokens",
    ),
    "tokens_reasoning": (
        "gen_ai.usage.reasoning.output_tokens",
        "llm.token_count.completion_details.reasoning",
        "ai.usage.reasoningTokens",
        "ai.usage.outputTokenDetails.reasoningTokens",
    ),
    "tokens_total": (
        "gen_ai.usage.total_tokens",
        "llm.token_count.total",
        "ai.usage.totalTokens",
        "llm.usage.total_tokens",
    ),
    # gen_ai.usage.cost is not in the OTel spec; it is OpenLIT's spelling.
    "cost": ("gen_ai.usage.cost", "llm.cost.total"),
    "session_id": (
        "gen_ai.conversation.id",
        "ai.telemetry.metadata.sessionId",
        "traceloop.association.properties.session_id",
        "langfuse.session.id",
        "session.id",
    ),
    "user_id": (
        "ai.telemetry.metadata.userId",
        "traceloop.association.properties.user_id",
        "langfuse.user.id",
        "user.id",
        "enduser.id",
    ),
    "tags": ("tag.tags", "langfuse.trace.tags"),
    "release": ("langfuse.release", "langfuse.version", "service.version"),
    "environment": (
        "langfuse.environment",
        "deployment.environment.name",
        "deployment.environment",
    ),
    "trace_name": ("langfuse.trace.name",),
    "trace_input": ("langfuse.trace.input",),
    "trace_output": ("langfuse.trace.output",),
}
# Scalar keys also read from the resource; there they outrank the same key on the span,
# but not the keys listed before it.
RESOURCE_FIELDS = ("langfuse.release", "service.version", "deployment.environment.name",
                   "deployment.environment")


_READERS: dict[str, Callable[[Any], Any]] = {
    "system": _system_instructions,
    "input": _text,
    "output": _text,
    "trace_input": _text,
    "trace_output": _text,
    "cost": _money,
    "tags": _tags,
    **{name: _count for name in SCALAR_FIELDS if name.startswith("tokens_")},
}
# attribute key -> (field, rank, reader): one dict lookup per attribute finds its use.
_SCALAR_INDEX = {
    key: (name, rank, _READERS.get(name, _label))
    for name, keys in SCALAR_FIELDS.items()
    for rank, key in enumerate(keys)
}


def _scalars(attributes: dict, resource: dict) -> dict:
    """Each scalar field's first usable value, in the order of `SCALAR_FIELDS`."""
    ranks: dict[str, float] = {}
    values: dict[str, Any] = {}
    for key in RESOURCE_FIELDS:
        if key in resource:
            name, rank, read = _SCALAR_INDEX[key]
            value = read(resource[key])
            if value is not None and ranks.get(name, math.inf) > rank - 0.5:
                ranks[name], values[name] = rank - 0.5, value
    index = _SCALAR_INDEX
    for key, value in attributes.items():
        entry = index.get(key)
        if entry is not None:
            name, rank, read = entry
            if ranks.get(name, math.inf) > rank:
                value = read(value)
                if value is not None:
                    ranks[name], values[name] = rank, value
    return values


class _Span:
    """What the source readers see: the raw span, the namespaces its attribute keys use,
    and its flattened keys on demand."""

    __slots__ = ("raw", "attributes", "namespaces", "_flat")

    def __init__(self, raw: RawSpan) -> None:
        self.raw = raw
        self.attributes = raw.attributes
        self.namespaces = {key.partition(".")[0] for key in raw.attributes}
        if raw.events:
            self.namespaces.add(_EVENTS)
        self._flat: dict | None = None

    @property
    def flat(self) -> dict:
        if self._flat is None:
            self._flat = _flattened(self.attributes)
        return self._flat


# Span kind: (attribute, value -> kind), in precedence order.
_GENAI_KINDS = {
    "chat": "llm",
    "generate_content": "llm",
    "text_completion": "llm",
    "embeddings": "embedding",
    "retrieval": "retriever",
    "execute_tool": "tool",
    "create_agent": "agent",
    "invoke_agent": "agent",
    "invoke_workflow": "chain",
}
_OPENINFERENCE_KINDS = {
    "LLM": "llm",
    "EMBEDDING": "embedding",
    "CHAIN": "chain",
    "RETRIEVER": "retriever",
    "RERANKER": "reranker",
    "TOOL": "tool",
    "AGENT": "agent",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
    "PROMPT": "chain",
}
_VERCEL_KINDS = {
    "ai.generateText": "chain",
    "ai.streamText": "chain",
    "ai.generateObject": "chain",
    "ai.streamObject": "chain",
    "ai.generateText.doGenerate": "llm",
    "ai.streamText.doStream": "llm",
    "ai.generateObject.doGenerate": "llm",
    "ai.streamObject.doStream": "llm",
    "ai.toolCall": "tool",
    "ai.embed": "embedding",
    "ai.embedMany": "embedding",
    "ai.embed.doEmbed": "embedding",
    "ai.embedMany.doEmbed": "embedding",
}
_TRACELOOP_KINDS = {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"}
_TRACELOOP_REQUEST_KINDS = {
    "chat": "llm",
    "completion": "llm",
    "embedding": "embedding",
    "rerank": "reranker",
}
_LANGFUSE_KINDS = {
    "generation": "llm",
    "embedding": "embedding",
    "agent": "agent",
    "tool": "tool",
    "chain": "chain",
    "retriever": "retriever",
    "evaluator": "evaluator",
    "guardrail": "guardrail",
    "span": "span",
    "event": "span",
}
KIND_SOURCES: tuple[tuple[str, dict[str, str]], ...] = (
    ("gen_ai.operation.name", _GENAI_KINDS),
    ("openinference.span.kind", _OPENINFERENCE_KINDS),
    ("ai.operationId", _VERCEL_KINDS),
    ("traceloop.span.kind", _TRACELOOP_KINDS),
    ("llm.request.type", _TRACELOOP_REQUEST_KINDS),
    ("langfuse.observation.type", _LANGFUSE_KINDS),
)


def _kind(attributes: dict) -> str | None:
    for key, kinds in KIND_SOURCES:
        value = attributes.get(key)
        if isinstance(value, str):
            kind = kinds.get(value) or kinds.get(value.upper())
            if kind:
                return kind
    return None


_GENAI_ROLE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def _genai_event_messages(events: list[dict], output: bool) -> list[dict] | None:
    """Messages from the event-based GenAI conventions (one event per message)."""
    messages: list = []
    for event in events:
        name = event["name"]
        if output and name == "gen_ai.choice":
            messages.extend(_choice_messages(_unflatten(event["attributes"])))
        elif not output and name in _GENAI_ROLE_EVENTS:
            payload = _unflatten(event["attributes"])
            payload.setdefault("role", _GENAI_ROLE_EVENTS[name])
            payload.setdefault("tool_call_id", payload.get("id"))
            messages.extend(_normalize_message(payload, "user"))
        elif name == ("gen_ai.content.completion" if output else "gen_ai.content.prompt"):
            key = "gen_ai.completion" if output else "gen_ai.prompt"
            messages.extend(normalize_messages(event["attributes"].get(key)) or ())
    return messages or None


def _choice_messages(payload: dict) -> list[dict]:
    message = payload.get("message")
    if isinstance(message, str):
        message = parse_json(message) or {"content": message}
    if not isinstance(message, dict):
        message = {}
    if payload.get("tool_calls") and "tool_calls" not in message:
        message = {**message, "tool_calls": payload["tool_calls"]}
    return _normalize_message(message, "assistant")


def _flat_genai_messages(flat: dict, prefix: str, default_role: str) -> list[dict] | None:
    """`gen_ai.prompt.N.role/content/tool_calls.M.*` (and OpenLLMetry's function_call)."""
    if not flat:
        return None
    items = _indexed(_unflatten(_under(flat, prefix)))
    messages = []
    for item in items:
        if not isinstance(item, dict):
            continue
        function_call = item.get("function_call")
        if isinstance(function_call, dict) and "tool_calls" not in item:
            item = {**item, "tool_calls": [function_call]}
        messages.extend(_normalize_message(item, default_role))
    return messages or None


def _openinference_messages(flat: dict, prefix: str, default_role: str) -> list[dict] | None:
    """OpenInference's `llm.input_messages.N.message.*`: role, content or
    `contents.K.message_content.*`, and `tool_calls.M.tool_call.*`."""
    if not flat:
        return None
    messages = []
    for item in _indexed(_unflatten(_under(flat, prefix))):
        message = item.get("message") if isinstance(item, dict) else None
        if not isinstance(message, dict):
            continue
        calls = [
            call.get("tool_call", call) if isinstance(call, dict) else call
            for call in _indexed(message.get("tool_calls"))
        ]
        message = {**message, "tool_calls": calls}
        contents = _indexed(message.pop("contents", None))
        if "content" not in message and contents:
            message["content"] = [
                part.get("message_content", part) if isinstance(part, dict) else part
                for part in contents
            ]
        messages.extend(_normalize_message(message, default_role))
    return messages or None


def _json_value_messages(attributes: dict, direction: str) -> list[dict] | None:
    """Messages inside the JSON `input.value` / `output.value` of an OpenInference LLM span."""
    if str(attributes.get("openinference.span.kind", "")).upper() != "LLM":
        return None
    if "json" not in str(attributes.get(f"{direction}.mime_type", "")):
        return None
    value = parse_json(attributes.get(f"{direction}.value"))
    if isinstance(value, dict) and isinstance(value.get("choices"), list):
        value = [c.get("message") for c in value["choices"] if isinstance(c, dict)]
        return normalize_messages([m for m in value if isinstance(m, dict)], "assistant")
    return normalize_messages(value)


def _vercel_prompt(prompt: dict) -> list[dict] | None:
    """`ai.prompt` is {"system"?, "prompt"?, "messages"?}; a bare prompt is one user turn."""
    messages = normalize_messages(prompt.get("messages"))
    if messages:
        return messages
    text = _text(prompt.get("prompt"))
    return [_message("user", text)] if text else None


def _vercel_response(attributes: dict) -> list[dict] | None:
    text = _text(attributes.get("ai.response.text"))
    calls = _tool_calls(attributes.get("ai.response.toolCalls"))
    if text is None and not calls:
        return None
    return [_message("assistant", text or "", calls)]


def _messages_at(key: str, default_role: str = "user") -> Callable[[_Span], list | None]:
    def read(span: _Span) -> list[dict] | None:
        return normalize_messages(span.attributes.get(key), default_role)

    return read


def _langfuse_output(span: _Span) -> list[dict] | None:
    """`langfuse.observation.output`: a list of messages, or the one message object
    (`choices[0].message`, tool calls and all) that the `langfuse.openai` wrapper sends."""
    value = span.attributes.get("langfuse.observation.output")
    if isinstance(value, str):
        value = parse_json(value)
    if isinstance(value, dict) and "role" in value:
        value = [value]
    return normalize_messages(value, "assistant")


# Each message source with the namespace (first dotted segment of an attribute key)
# it reads: a source whose namespace no attribute has is skipped without a call.
_EVENTS = "@events"  # stands for "the span has events" among the namespaces
MessageSource = tuple[str, Callable[[_Span], "list[dict] | None"]]
INPUT_MESSAGE_SOURCES: tuple[MessageSource, ...] = (
    ("gen_ai", _messages_at("gen_ai.input.messages")),
    (_EVENTS, lambda span: _genai_event_messages(span.raw.events, output=False)),
    ("gen_ai", lambda span: _flat_genai_messages(span.flat, "gen_ai.prompt.", "user")),
    ("gen_ai", _messages_at("gen_ai.prompt")),
    ("llm", lambda span: _openinference_messages(span.flat, "llm.input_messages.", "user")),
    ("input", lambda span: _json_value_messages(span.attributes, "input")),
    ("ai", _messages_at("ai.prompt.messages")),
    ("ai", lambda span: _vercel_prompt(_as_dict(span.attributes.get("ai.prompt")))),
    ("langfuse", _messages_at("langfuse.observation.input")),
)
OUTPUT_MESSAGE_SOURCES: tuple[MessageSource, ...] = (
    ("gen_ai", _messages_at("gen_ai.output.messages", "assistant")),
    (_EVENTS, lambda span: _genai_event_messages(span.raw.events, output=True)),
    ("gen_ai", lambda span: _flat_genai_messages(span.flat, "gen_ai.completion.", "assistant")),
    ("gen_ai", _messages_at("gen_ai.completion", "assistant")),
    ("llm", lambda span: _openinference_messages(span.flat, "llm.output_messages.", "assistant")),
    ("output", lambda span: _json_value_messages(span.attributes, "output")),
    ("ai", lambda span: _vercel_response(span.attributes)),
    ("langfuse", _langfuse_output),
)


def _first_source(span: _Span, sources: tuple[MessageSource, ...]) -> list[dict] | None:
    for namespace, source in sources:
        if namespace in span.namespaces:
            messages = source(span)
            if messages:
                return messages
    return None


_LANGFUSE_USAGE = {
    "tokens_in": ("input", "prompt_tokens", "input_tokens"),
    "tokens_out": ("output", "completion_tokens", "output_tokens"),
    "tokens_cache_read": ("cache_read_input_tokens", "input_cached_tokens", "input_cache_read"),
    "tokens_cache_write": ("cache_creation_input_tokens", "input_cache_creation"),
    "tokens_reasoning": ("output_reasoning_tokens", "reasoning_tokens", "output_reasoning"),
    "tokens_total": ("total", "total_tokens"),
}


def _langfuse_usage(attributes: dict, fields: dict) -> None:
    """Token counts from `langfuse.observation.usage_details`, where nothing earlier gave one."""
    usage = _as_dict(attributes.get("langfuse.observation.usage_details"))
    for name, keys in _LANGFUSE_USAGE.items():
        if name not in fields:
            count = _first(usage, keys, _count)
            if count is not None:
                fields[name] = count


def _openinference_cost(attributes: dict) -> float | None:
    total = _money(attributes.get("llm.cost.total"))
    if total is not None:
        return total
    parts = [_money(attributes.get(key)) for key in ("llm.cost.prompt", "llm.cost.completion")]
    known = [part for part in parts if part is not None]
    return sum(known) if known else None


def _langfuse_cost(value: Any) -> float | None:
    costs = _as_dict(value)
    if "total" in costs:
        return _money(costs["total"])
    known = [cost for cost in map(_money, costs.values()) if cost is not None]
    return sum(known) if known else None


METADATA_SOURCES: tuple[tuple[str, Callable[[_Span], dict]], ...] = (
    ("metadata", lambda span: _as_dict(span.attributes.get("metadata"))),
    ("ai", lambda span: _under(span.flat, "ai.telemetry.metadata.")),
    ("traceloop", lambda span: _under(span.flat, "traceloop.association.properties.")),
    ("langfuse", lambda span: _langfuse_metadata(span)),
)


def _metadata(span: _Span) -> dict:
    """Every convention's metadata, merged; on a clash the earlier convention wins."""
    metadata: dict = {}
    for namespace, source in METADATA_SOURCES:
        if namespace in span.namespaces:
            for key, value in source(span).items():
                metadata.setdefault(key, value)
    return json_safe(metadata) if metadata else metadata


def _langfuse_metadata(span: _Span) -> dict:
    metadata: dict = {}
    for scope in ("langfuse.observation.metadata", "langfuse.trace.metadata"):
        for key, value in _under(span.flat, scope + ".").items():
            metadata.setdefault(key, value)
        for key, value in _as_dict(span.attributes.get(scope)).items():
            metadata.setdefault(key, value)
    return metadata


# ---------------------------------------------------------------------------
# The mapping


def map_span(raw: RawSpan) -> SpanRecord:
    """The normalised record of one span (see the module docstring for the order)."""
    span = _Span(raw)
    attributes = raw.attributes
    fields = _scalars(attributes, raw.resource)
    input_messages = _first_source(span, INPUT_MESSAGE_SOURCES)
    output_messages = _first_source(span, OUTPUT_MESSAGE_SOURCES)
    if input_messages:
        fields["input_messages"] = input_messages
        fields["input"] = messages_text(input_messages) or fields.get("input")
    if output_messages:
        fields["output_messages"] = output_messages
        fields["output"] = messages_text(output_messages) or fields.get("output")
    _fill_fallbacks(span, fields)
    status, error = _status_and_error(raw)
    return SpanRecord(
        raw.trace_id,
        raw.span_id,
        raw.parent_span_id,
        raw.name,
        raw.start_time,
        raw.end_time,
        status=status,
        error=error,
        metadata=_metadata(span),
        attributes=attributes,
        resource=raw.resource,
        events=raw.events,
        scope=raw.scope,
        **fields,
    )


def _fill_fallbacks(span: _Span, fields: dict) -> None:
    """The derived fields and fallbacks the module docstring lists, in place."""
    attributes = span.attributes
    if "langfuse.observation.usage_details" in attributes:
        _langfuse_usage(attributes, fields)
    total = fields.pop("tokens_total", None)
    tokens_in = fields.get("tokens_in")
    if "tokens_out" not in fields and total is not None and tokens_in is not None:
        if total >= tokens_in:
            fields["tokens_out"] = total - tokens_in
    if "cost" not in fields and not span.namespaces.isdisjoint(("llm", "langfuse")):
        cost = _openinference_cost(attributes)
        if cost is None:
            cost = _langfuse_cost(attributes.get("langfuse.observation.cost_details"))
        if cost is not None:
            fields["cost"] = cost
    if "tool_name" not in fields and attributes.get("traceloop.span.kind") == "tool":
        fields["tool_name"] = _label(attributes.get("traceloop.entity.name"))
    if "system" not in fields:
        system = (
            _text(_as_dict(attributes.get("ai.prompt")).get("system"))
            if "ai" in span.namespaces
            else None
        )
        system = system or _system_text(fields.get("input_messages"))
        if system:
            fields["system"] = system
    fields["kind"] = _kind(attributes) or fallback_kind(fields)
    for name in ("input", "output"):
        if fields.get(name):
            fields[name] = clean_text(fields[name])


def fallback_kind(fields: dict) -> str:
    """The kind of a span no convention names: `llm` if it looks like a model call."""
    has_usage = fields.get("tokens_in") is not None or fields.get("tokens_out") is not None
    has_chat = bool(fields.get("input_messages") or fields.get("output_messages"))
    return "llm" if fields.get("model") and (has_usage or has_chat) else "span"


def _status_and_error(raw: RawSpan) -> tuple[str, str | None]:
    attributes = raw.attributes
    langfuse_error = attributes.get("langfuse.observation.level") == "ERROR"
    if raw.status != "error" and not langfuse_error:
        return raw.status, None
    message = (
        _label(raw.status_message, MAX_TEXT_CHARS)
        or _exception_text(raw.events)
        or _label(attributes.get("langfuse.observation.status_message"), MAX_TEXT_CHARS)
        or _label(attributes.get("error.type"))
    )
    return "error", message


def _exception_text(events: list[dict]) -> str | None:
    for event in events:
        if event["name"] == "exception":
            attributes = event["attributes"]
            parts = [
                _label(attributes.get("exception.type")),
                _label(attributes.get("exception.message"), MAX_TEXT_CHARS),
            ]
            return ": ".join(part for part in parts if part) or None
    return None
