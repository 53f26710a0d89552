"""Structure rules: thresholds on structural facts ("n_span_errors >= 1 => fail").

Spec (family "structure"):
    {"combine": "any" | "all",
     "context": {"tools": [...], "tool_args": [...], "schema_keys": [...] | null, "language": "en" | null},
     "conditions": [{"feature": "tool_calls:cancel_reservation", "op": ">=", "value": 1}]}
Features are named in facts.py (BASE_FEATURES, `tool_calls:NAME`,
`tool_arg:NAME:key=value`, `json_schema_mismatch`, `output_language_differs`).
Mining tries every feature, both directions, every useful threshold, on the
fold's training rows, then grows the rule greedily like text rules.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .examples import as_examples
from .facts import Facts, StructureContext, describe, facts_of, feature_matrix, is_known_feature, learn_context
from .metrics import best_threshold
from .rules import _grow
from .spec import SpecError, Verdict, envelope, verdicts
from .workspace import Workspace

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne}
TOP_CONDITIONS = 12


def fit_structure(ws: Workspace, rows: np.ndarray, *, max_conditions: int = 2, **_: Any) -> dict[str, Any]:
    facts = [ws.facts[i] for i in rows]
    y = ws.actual_fail[rows]
    context = learn_context(facts, y)
    names = context.feature_names()
    matrix = feature_matrix(facts, context, names)
    conditions = _best_conditions(matrix, names, y)
    if not conditions:
        return envelope("structure", combine="any", context=context.to_json(), conditions=[])
    coverage = np.column_stack([_apply(c, matrix[:, names.index(c["feature"])]) for c in conditions])
    chosen, op = _grow(coverage, y, max_conditions)
    return envelope("structure", combine=op, context=context.to_json(), conditions=[conditions[i] for i in chosen])


def _best_conditions(matrix: np.ndarray, names: list[str], y: np.ndarray) -> list[dict[str, Any]]:
    """The best threshold of every feature in each direction, best first."""
    scored = []
    for column, name in enumerate(names):
        values = matrix[:, column]
        if np.all(values == values[0]):
            continue
        for sign, op in ((1.0, ">="), (-1.0, "<=")):
            threshold, score = best_threshold(y, sign * values)
            value = float(sign * threshold)
            if op == ">=" and values.max() < value or op == "<=" and values.min() > value:
                continue
            scored.append((score, {"feature": name, "op": op, "value": _round(value)}))
    scored.sort(key=lambda s: -s[0])
    return [condition for _, condition in scored[:TOP_CONDITIONS]]


def _round(value: float) -> float:
    # Thresholds sit halfway between observed values: a few digits suffice and read better.
    return float(np.round(value, 4))


def _apply(condition: dict[str, Any], values: np.ndarray) -> np.ndarray:
    return OPS[condition["op"]](values, float(condition["value"]))


class StructureEvaluator:
    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.op = spec.get("combine", "any")
        if self.op not in ("any", "all"):
            raise SpecError("structure combine must be 'any' or 'all'")
        self.context = StructureContext.from_json(spec.get("context"))
        self.conditions = list(spec.get("conditions", []))
        for condition in self.conditions:
            if condition.get("op") not in OPS:
                raise SpecError(f"unknown operator {condition.get('op')!r}")
            if not is_known_feature(str(condition.get("feature")), self.context):
                raise SpecError(f"unknown structure feature {condition.get('feature')!r}")
            float(condition.get("value"))
        self.names = [c["feature"] for c in self.conditions]

    def predict_facts(self, facts: list[Facts]) -> tuple[np.ndarray, np.ndarray]:
        matrix = feature_matrix(facts, self.context, self.names)
        if not self.conditions:
            return np.zeros(len(facts), dtype=bool), matrix
        fires = np.column_stack([_apply(c, matrix[:, k]) for k, c in enumerate(self.conditions)])
        fail = fires.any(axis=1) if self.op == "any" else fires.all(axis=1)
        return fail, matrix

    def predict(self, examples) -> tuple[np.ndarray, np.ndarray]:
        fail, _ = self.predict_facts([facts_of(e) for e in examples])
        return fail, fail.astype(float)

    def evaluate(self, traces) -> list[Verdict]:
        examples = as_examples(traces)
        fail, matrix = self.predict_facts([facts_of(e) for e in examples])
        explanations = []
        for i, failed in enumerate(fail.tolist()):
            if not self.conditions:
                explanations.append("empty structure rule: never fails")
                continue
            fired = [_apply(c, matrix[i : i + 1, k])[0] for k, c in enumerate(self.conditions)]
            said = "; ".join(
                f"{describe(c['feature'], matrix[i, k], self.context)} ({c['op']} {c['value']})"
                + ("" if fired[k] else ": not met")
                for k, c in enumerate(self.conditions)
                if fired[k] == failed
            )
            if not failed:
                said = ("no condition met: " if self.op == "any" else "not every condition met: ") + said
            explanations.append(said)
        return verdicts(fail, fail.astype(float), explanations)


def predict_rows(spec: dict[str, Any], ws: Workspace, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fail, _ = StructureEvaluator(spec).predict_facts([ws.facts[i] for i in rows])
    return fail, fail.astype(float)
