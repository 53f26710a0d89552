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

# Matched against lower-cased text without re.IGNORECASE or a leading \b: both stop the
# regex engine from skipping ahead to the alternatives' first letters (3x slower).
REFUSAL = re.compile(
    r"i(?:'m| am) sorry|i (?:can(?:no|')t|won't|am unable to|'m unable to|am not able to|'m not able to)"
    r"|unable to (?:help|assist|comply)|as an ai\b|i must decline"
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

STOPWORD_SET = frozenset(STOPWORD_LANGUAGE)

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
BASE_INDEX = {name: i for i, name in enumerate(BASE_FEATURES)}
MAX_TOOL_FEATURES = 40
MAX_ARG_FEATURES = 60
MIN_SUPPORT = 3
MAX_TEXT_CHARS = 20_000


class lazy:
    """functools.cached_property without its per-access lock (Python 3.11), which cost more
    than most facts here. The first read stores the value on the instance, shadowing this."""

    def __init__(self, compute):
        self.compute = compute
        self.name = compute.__name__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.compute(instance)
        return value


class Facts:
    """What one trace shows, computed lazily: an evaluator pays only for the facts it reads."""

    def __init__(self, example: Example):
        self.example = example

    @lazy
    def words(self) -> list[str]:
        return WORD.findall(self.example.output[:MAX_TEXT_CHARS].lower())

    @lazy
    def parsed_output(self) -> Any:
        return _parse_json(self.example.output)

    @lazy
    def json_keys(self) -> frozenset | None:
        parsed = self.parsed_output
        return frozenset(parsed) if isinstance(parsed, dict) else None

    @lazy
    def language(self) -> str:
        return detect_language(self.words)

    @lazy
    def tools(self) -> Counter:
        return Counter(c.name for c in self.example.all_tool_calls() if c.name)

    @lazy
    def tool_args(self) -> Counter:
        return Counter(a for c in self.example.all_tool_calls() for a in _scalar_arguments(c.name, c.arguments))

    @lazy
    def roles(self) -> Counter:
        return Counter(m.role for m in self.example.messages)

    @lazy
    def latencies(self) -> list[float]:
        return [s.latency_ms for s in self.example.spans if s.latency_ms is not None]

    def value(self, name: str) -> float:
        return float(_BASE_READERS[name](self))

    def base_row(self) -> list[float]:
        """Every base feature at once, in BASE_FEATURES order (one call per trace, not one per feature)."""
        return [float(read(self)) for read in _BASE_ROW]


_BASE_READERS = {
    "output_chars": lambda f: len(f.example.output),
    "output_words": lambda f: len(f.words),
    "output_empty": lambda f: not f.example.output.strip(),
    "output_is_json": lambda f: f.parsed_output is not None,
    # Refusals show early; reading the whole of a long output adds time, not signal.
    "output_refusal": lambda f: is_refusal(f.example.output[:2000]),
    "output_repetition": lambda f: _repetition(f.words),
    "input_chars": lambda f: len(f.example.input),
    "n_messages": lambda f: len(f.example.messages),
    "n_user_turns": lambda f: f.roles.get("user", 0),
    "n_assistant_turns": lambda f: f.roles.get("assistant", 0),
    "n_tool_calls": lambda f: sum(f.tools.values()),
    "n_distinct_tools": lambda f: len(f.tools),
    "n_tool_errors": lambda f: sum(_looks_like_error(m.content) for m in f.example.messages if m.role == "tool"),
    "n_span_errors": lambda f: sum(s.status == "error" for s in f.example.spans),
    "latency_max_ms": lambda f: max(f.latencies, default=0.0),
    "latency_total_ms": lambda f: sum(f.latencies),
    "tokens_in": lambda f: sum(s.tokens_in or 0 for s in f.example.spans),
    "tokens_out": lambda f: sum(s.tokens_out or 0 for s in f.example.spans),
}
assert set(_BASE_READERS) == set(BASE_FEATURES)
_BASE_ROW = [_BASE_READERS[name] for name in BASE_FEATURES]


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
    return Facts(example)


def _parse_json(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return None


def is_refusal(text: str) -> bool:
    """REFUSAL found at the start of a word (the \\b the pattern leaves out)."""
    lowered = text.lower()
    match = REFUSAL.search(lowered)
    while match is not None:
        start = match.start()
        if start == 0 or not (lowered[start - 1].isalnum() or lowered[start - 1] == "_"):
            return True
        match = REFUSAL.search(lowered, start + 1)
    return False


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
    """The language with most distinct stopwords among the first 400 words (at least 3), else "unknown"."""
    votes: Counter = Counter()
    for word in STOPWORD_SET.intersection(words[:400]):
        for language in STOPWORD_LANGUAGE[word]:
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
    base_columns = [i for i, name in enumerate(names) if name in BASE_INDEX]
    if len(base_columns) > 3 and facts:
        # Many base features: one row per trace beats one Python call per feature and trace.
        base = np.array([f.base_row() for f in facts])
        matrix[:, base_columns] = base[:, [BASE_INDEX[names[i]] for i in base_columns]]
    else:
        base_columns = []
    counted = _fill_tool_counts(matrix, facts, names)
    for column, name in enumerate(names):
        if column not in base_columns and column not in counted:
            matrix[:, column] = _feature_column(facts, name, context)
    return matrix


def _fill_tool_counts(matrix: np.ndarray, facts: list[Facts], names: list[str]) -> set[int]:
    """The tool_calls:* and tool_arg:* columns, filled from each trace's few calls (a column-by-
    column pass would read every trace once per tool). Returns the columns it filled."""
    tool_column = {n.split(":", 1)[1]: c for c, n in enumerate(names) if n.startswith("tool_calls:")}
    arg_column = {n.split(":", 1)[1]: c for c, n in enumerate(names) if n.startswith("tool_arg:")}
    for row, fact in enumerate(facts):
        if tool_column:
            for tool, count in fact.tools.items():
                if tool in tool_column:
                    matrix[row, tool_column[tool]] = count
        if arg_column:
            for arg, count in fact.tool_args.items():
                if arg in arg_column:
                    matrix[row, arg_column[arg]] = count
    return set(tool_column.values()) | set(arg_column.values())


def _feature_column(facts: list[Facts], name: str, context: StructureContext) -> np.ndarray:
    if name in BASE_FEATURES:
        return np.fromiter((f.value(name) for f in facts), dtype=float, count=len(facts))
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

