"""Evaluator specs: versioned plain-JSON documents, compiled into runnable evaluators.

Every spec is a JSON object with `format`, `version` and `family`; the rest
depends on the family (see each family's module). Nothing in a spec is code:
compiling one never evaluates its content, and a spec written by a person is
compiled and scored exactly like a generated one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol

import numpy as np

from .examples import Example, as_examples

FORMAT = "sextant.evaluator"
VERSION = 1
FAMILIES = ("rule", "structure", "classifier", "judge", "combine")


class SpecError(ValueError):
    """A spec that cannot be compiled."""


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "pass" | "fail"
    score: float  # higher = more likely a failure
    explanation: str

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "score": self.score, "explanation": self.explanation}


class Evaluator(Protocol):
    spec: dict[str, Any]

    def predict(self, examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
        """(fail flags, scores) for a batch, without explanations (the fast path)."""

    def evaluate(self, traces: Iterable[Example | Mapping[str, Any]]) -> list[Verdict]:
        """A verdict with its explanation for every trace."""


def envelope(family: str, **body: Any) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "family": family, **body}


def check_envelope(spec: Mapping[str, Any]) -> str:
    if not isinstance(spec, Mapping):
        raise SpecError("a spec must be a JSON object")
    if spec.get("format", FORMAT) != FORMAT:
        raise SpecError(f"not an evaluator spec (format {spec.get('format')!r})")
    if int(spec.get("version", VERSION)) > VERSION:
        raise SpecError(f"spec version {spec.get('version')} is newer than this code ({VERSION})")
    family = spec.get("family")
    if family not in FAMILIES:
        raise SpecError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    return family


def compile_spec(spec: Mapping[str, Any], *, llm: Any = None) -> Evaluator:
    """A runnable evaluator for a spec. Judges need `llm` (a judge.LLMClient)."""
    family = check_envelope(spec)
    # Imported here: family modules import this one.
    if family == "rule":
        from .rules import RuleEvaluator as factory
    elif family == "structure":
        from .structure import StructureEvaluator as factory
    elif family == "classifier":
        from .classifier import ClassifierEvaluator as factory
    elif family == "combine":
        return CombinedEvaluator(dict(spec), llm=llm)
    else:
        from .judge import JudgeEvaluator

        if llm is None:
            raise SpecError("a judge spec needs an LLM client to run")
        return JudgeEvaluator(dict(spec), llm)
    return factory(dict(spec))


def verdicts(fail: np.ndarray, scores: np.ndarray, explanations: list[str]) -> list[Verdict]:
    return [
        Verdict("fail" if f else "pass", float(s), e) for f, s, e in zip(fail.tolist(), scores.tolist(), explanations)
    ]


COMBINE_OPS = ("any", "all", "majority")


def merge_flags(op: str, flags: np.ndarray) -> np.ndarray:
    """Combine parts' fail flags (parts x traces): any, all, or a strict majority of the parts."""
    if op == "any":
        return flags.any(axis=0)
    if op == "all":
        return flags.all(axis=0)
    return flags.sum(axis=0) * 2 > flags.shape[0]


class CombinedEvaluator:
    """`any` fails a trace when one part does; `all` when every part does; `majority` when most do."""

    def __init__(self, spec: dict[str, Any], llm: Any = None):
        op = spec.get("op")
        if op not in COMBINE_OPS:
            raise SpecError("a combine spec needs op 'any', 'all' or 'majority'")
        parts = spec.get("parts") or []
        if len(parts) < 2:
            raise SpecError("a combine spec needs at least two parts")
        self.spec = spec
        self.op = op
        self.parts = [compile_spec(part, llm=llm) for part in parts]

    def _merge(self, results: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        flags = np.vstack([r[0] for r in results])
        scores = np.vstack([r[1] for r in results])
        combined = {"any": scores.max(axis=0), "all": scores.min(axis=0), "majority": np.median(scores, axis=0)}
        return merge_flags(self.op, flags), combined[self.op]

    def predict(self, examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
        return self._merge([part.predict(examples) for part in self.parts])

    def evaluate(self, traces) -> list[Verdict]:
        examples = as_examples(traces)
        per_part = [part.evaluate(examples) for part in self.parts]
        fail, scores = self._merge(
            [(np.array([v.verdict == "fail" for v in vs], dtype=bool), np.array([v.score for v in vs])) for vs in per_part]
        )
        joiner = {"any": " OR ", "all": " AND ", "majority": " | "}[self.op]
        explanations = []
        for i, failed in enumerate(fail.tolist()):
            # Say why the combined verdict came out as it did: the parts that decided it.
            deciding = [vs[i] for vs in per_part if (vs[i].verdict == "fail") == failed]
            prefix = f"{len(deciding)} of {len(per_part)} parts agree: " if self.op == "majority" else ""
            explanations.append(prefix + joiner.join(v.explanation for v in deciding))
        return verdicts(fail, scores, explanations)


def combine(op: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return envelope("combine", op=op, parts=parts)


def spec_complexity(spec: Mapping[str, Any]) -> int:
    """Rough size a person must read: clauses, conditions, or a fixed weight for opaque models."""
    family = spec.get("family")
    if family == "combine":
        return sum(spec_complexity(p) for p in spec["parts"])
    if family == "rule":
        return len(spec.get("clauses", []))
    if family == "structure":
        return len(spec.get("conditions", []))
    if family == "classifier":
        return 20
    return 10  # judge: one prompt


def calls_llm(spec: Mapping[str, Any]) -> bool:
    """Whether running the spec calls an LLM (a judge, alone or as a part)."""
    if spec.get("family") == "combine":
        return any(calls_llm(p) for p in spec.get("parts") or [])
    return spec.get("family") == "judge"


def spec_cost(spec: Mapping[str, Any]) -> float:
    """Relative cost per trace: an LLM call dwarfs everything local."""
    family = spec.get("family")
    if family == "combine":
        return sum(spec_cost(p) for p in spec["parts"])
    return {"rule": 1.0, "structure": 1.0, "classifier": 3.0, "judge": 1000.0}.get(family, 1.0)


def describe_spec(spec: Mapping[str, Any]) -> str:
    """One line a person can read: what makes this evaluator fail a trace."""
    family = spec.get("family")
    if family == "combine":
        parts = [f"({describe_spec(p)})" for p in spec.get("parts", [])]
        if spec.get("op") == "majority":
            return f"fail if most of {len(parts)} parts fail: " + ", ".join(parts)
        return (" OR " if spec.get("op") == "any" else " AND ").join(parts)
    if family == "rule":
        clauses = [
            f"{c.get('field', 'output')} {'lacks' if c.get('negate') else 'contains'} "
            + (f"/{c.get('pattern')}/" if c.get("kind") == "regex" else repr(c.get("pattern")))
            for c in spec.get("clauses", [])
        ]
        joiner = " or " if spec.get("combine", "any") == "any" else " and "
        return "fail if " + joiner.join(clauses) if clauses else "never fails"
    if family == "structure":
        conditions = [f"{c['feature']} {c['op']} {c['value']}" for c in spec.get("conditions", [])]
        joiner = " or " if spec.get("combine", "any") == "any" else " and "
        return "fail if " + joiner.join(conditions) if conditions else "never fails"
    if family == "classifier":
        extra = " + structural facts" if spec.get("structure") else ""
        return (
            f"TF-IDF ({len(spec.get('vocabulary', []))} n-grams of {spec.get('view')}){extra} -> logistic regression, "
            f"fail if score >= {float(spec.get('threshold', 0.5)):.3f}"
        )
    if family == "judge":
        return f"LLM judge ({spec.get('model')}), prompt of {len(str(spec.get('prompt', '')))} characters"
    return str(family)
