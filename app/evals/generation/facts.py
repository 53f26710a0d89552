"""Structural facts of a trace, as named numeric features.

Facts that need no fitting (length, empty output, JSON validity, refusal,
repetition, turn and tool counts, span errors, latency, tokens) are computed
once per trace. Some features need context learnt from training data: which
tools and tool arguments are worth counting, the JSON keys passing outputs
carry (a schema), and the language passing outputs are written in. That
context is stored in the spec, so a feature's value never depends on the
batch it is computed in.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .examples import Example

REFUSAL = re.compile(
    r"\b(?:i(?:'m| am) sorry|i (?:can(?:no|')t|won't|am unable to|'m unable to|am not able to|'m not able to)"
    r"|unable to (?:help|assist|comply)|as an ai\b|i must decline)",
    re.IGNORECASE,
)
WORD = re.compile(r"\w+")

# A small stopword detector: enough to tell "answered in the wrong language".
STOPWORDS = {
    "en": "the and is are to of in that it for you with this was not on have be",
    "es": "el la los las que de y en es por para con una un del se no",
    "fr": "le la les des est et que une un du dans pour pas vous avec sur",
    "de": "der die das und ist nicht ein eine zu mit den dem ich sie es auf",
    "it": "il lo la gli le che di e è un una per non con sono del della",
    "pt": "o a os as que de e é um uma para com não do da em no",
    "nl": "de het een en is van dat niet op te met zijn voor er ik",
}
STOPWORD_LANGUAGE = {}
for _language, _words in STOPWORDS.items():
    for _word in _words.split():
        STOPWORD_LANGUAGE.setdefault(_word, set()).add(_language)

# Features every trace has, whatever the training data.
BASE_FEATURES = (
    "output_chars",
    "output_words",
    "output_empty",
    "output_is_json",
    "output_refusal",
    "output_repetition",
    "input_chars",
    "n_messages",
    "n_user_turns",
    "n_assistant_turns",
    "n_tool_calls",
    "n_distinct_tools",
    "n_tool_errors",
    "n_span_errors",
    "latency_max_ms",
    "latency_total_ms",
    "tokens_in",
    "tokens_out",
)
MAX_TOOL_FEATURES = 40
MAX_ARG_FEATURES = 60
MIN_SUPPORT = 3


@dataclass(frozen=True)
class Facts:
    """What one trace shows, before any context is applied."""

    base: dict[str, float]
    tools: Counter
    tool_args: Counter
    json_keys: frozenset | None
    language: str


@dataclass
class StructureContext:
    """Learnt from training examples; stored in specs that use structure features."""

    tools: list[str] = field(default_factory=list)
    tool_args: list[str] = field(default_factory=list)
    schema_keys: list[str] | None = None
    language: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "StructureContext":
        return cls(**(data or {}))

    def feature_names(self) -> list[str]:
        names = list(BASE_FEATURES)
        names += [f"tool_calls:{t}" for t in self.tools]
        names += [f"tool_arg:{a}" for a in self.tool_args]
        if self.schema_keys is not None:
            names.append("json_schema_mismatch")
        if self.language is not None:
            names.append("output_language_differs")
        return names


def facts_of(example: Example) -> Facts:
    output = example.output
    words = WORD.findall(output.lower())
    parsed = _parse_json(output)
    calls = example.all_tool_calls()
    tools = Counter(c.name for c in calls if c.name)
    tool_args = Counter(arg for c in calls for arg in _scalar_arguments(c.name, c.arguments))
    latencies = [s.latency_ms for s in example.spans if s.latency_ms is not None]
    roles = Counter(m.role for m in example.messages)
    base = {
        "output_chars": float(len(output)),
        "output_words": float(len(words)),
        "output_empty": float(not output.strip()),
        "output_is_json": float(parsed is not None),
        "output_refusal": float(bool(REFUSAL.search(output[:5000]))),
        "output_repetition": _repetition(words),
        "input_chars": float(len(example.input)),
        "n_messages": float(len(example.messages)),
        "n_user_turns": float(roles.get("user", 0)),
        "n_assistant_turns": float(roles.get("assistant", 0)),
        "n_tool_calls": float(sum(tools.values())),
        "n_distinct_tools": float(len(tools)),
        "n_tool_errors": float(sum(_looks_like_error(m.content) for m in example.messages if m.role == "tool")),
        "n_span_errors": float(sum(s.status == "error" for s in example.spans)),
        "latency_max_ms": float(max(latencies, default=0.0)),
        "latency_total_ms": float(sum(latencies)),
        "tokens_in": float(sum(s.tokens_in or 0 for s in example.spans)),
        "tokens_out": float(sum(s.tokens_out or 0 for s in example.spans)),
    }
    keys = frozenset(parsed) if isinstance(parsed, dict) else None
    return Facts(base, tools, tool_args, keys, detect_language(words))


def _parse_json(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return None


def _scalar_arguments(tool: str, arguments: str) -> list[str]:
    """`tool:key=value` for short scalar arguments: which tools were called with what."""
    parsed = _parse_json(arguments)
    if not isinstance(parsed, dict):
        return []
    out = []
    for key, value in parsed.items():
        if isinstance(value, (str, int, float, bool)) and len(str(value)) <= 40:
            out.append(f"{tool}:{key}={value}")
    return out


def _looks_like_error(content: str) -> bool:
    head = content[:200].lower()
    return head.startswith("error") or '"error"' in head or "exception" in head


def _repetition(words: list[str]) -> float:
    """Share of word trigrams that repeat an earlier one: loops and stutters."""
    if len(words) < 6:
        return 0.0
    trigrams = list(zip(words, words[1:], words[2:]))
    return 1.0 - len(set(trigrams)) / len(trigrams)


def detect_language(words: list[str]) -> str:
    votes: Counter = Counter()
    for word in words[:400]:
        for language in STOPWORD_LANGUAGE.get(word, ()):
            votes[language] += 1
    if not votes:
        return "unknown"
    (best, count), *rest = votes.most_common(2) + [("", 0)]
    return best if count >= 3 and count > rest[0][1] else "unknown"


def learn_context(facts: list[Facts], actual_fail: np.ndarray) -> StructureContext:
    """Which tools/arguments to count, and the schema and language of passing outputs."""
    tool_support = Counter(t for f in facts for t in f.tools)
    arg_support = Counter(a for f in facts for a in f.tool_args)
    tools = sorted(t for t, n in tool_support.most_common(MAX_TOOL_FEATURES) if n >= MIN_SUPPORT)
    args = sorted(a for a, n in arg_support.most_common(MAX_ARG_FEATURES) if n >= MIN_SUPPORT)
    passing = [f for f, fail in zip(facts, actual_fail) if not fail]
    return StructureContext(tools, args, _schema(passing), _language(passing))


def _schema(passing: list[Facts]) -> list[str] | None:
    """Keys nearly every passing JSON output has, when most passing outputs are JSON objects."""
    objects = [f.json_keys for f in passing if f.json_keys is not None]
    if not passing or len(objects) < max(MIN_SUPPORT, 0.5 * len(passing)):
        return None
    counts = Counter(k for keys in objects for k in keys)
    return sorted(k for k, n in counts.items() if n >= 0.9 * len(objects))


def _language(passing: list[Facts]) -> str | None:
    languages = Counter(f.language for f in passing if f.language != "unknown")
    if not languages:
        return None
    language, count = languages.most_common(1)[0]
    return language if count >= 0.8 * sum(languages.values()) else None


def feature_matrix(facts: list[Facts], context: StructureContext, names: list[str] | None = None) -> np.ndarray:
    """Rows = traces, columns = `names` (default: all of context.feature_names())."""
    names = context.feature_names() if names is None else names
    matrix = np.zeros((len(facts), len(names)))
    for column, name in enumerate(names):
        matrix[:, column] = _feature_column(facts, name, context)
    return matrix


def _feature_column(facts: list[Facts], name: str, context: StructureContext) -> np.ndarray:
    if name in BASE_FEATURES:
        return np.fromiter((f.base[name] for f in facts), dtype=float, count=len(facts))
    if name.startswith("tool_calls:"):
        tool = name.split(":", 1)[1]
        return np.fromiter((f.tools.get(tool, 0) for f in facts), dtype=float, count=len(facts))
    if name.startswith("tool_arg:"):
        arg = name.split(":", 1)[1]
        return np.fromiter((f.tool_args.get(arg, 0) for f in facts), dtype=float, count=len(facts))
    if name == "json_schema_mismatch" and context.schema_keys is not None:
        required = frozenset(context.schema_keys)
        return np.fromiter((f.json_keys is None or not required <= f.json_keys for f in facts), dtype=float, count=len(facts))
    if name == "output_language_differs" and context.language is not None:
        wanted = (context.language, "unknown")
        return np.fromiter((f.language not in wanted for f in facts), dtype=float, count=len(facts))
    raise ValueError(f"unknown structure feature {name!r}")


def is_known_feature(name: str, context: StructureContext) -> bool:
    try:
        _feature_column([], name, context)
    except ValueError:
        return False
    return True


def describe(feature: str, value: float, context: StructureContext) -> str:
    """A reader's name for a feature value, used in explanations."""
    if feature == "json_schema_mismatch":
        return f"output lacks JSON keys {context.schema_keys}" if value else "output matches the JSON schema"
    if feature == "output_language_differs":
        return f"output not in {context.language}" if value else f"output in {context.language}"
    shown = int(value) if float(value).is_integer() else round(value, 3)
    return f"{feature} = {shown}"


def log_scaled(matrix: np.ndarray) -> np.ndarray:
    """Counts and sizes spread over orders of magnitude; log1p keeps them on one scale for a linear model."""
    return np.log1p(np.maximum(matrix, 0.0))

