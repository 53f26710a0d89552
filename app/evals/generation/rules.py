"""Rules: "contains X => fail" / "lacks Y => fail" clauses on one field, OR-ed or AND-ed.

Spec (family "rule"):
    {"combine": "any" | "all",
     "clauses": [{"field": "output", "kind": "phrase" | "regex", "pattern": "...",
                  "negate": false, "case_sensitive": false}]}
A clause *fires* when its pattern is found (or, with `negate`, when it is
not: "lacks"). `any` fails a trace when one clause fires, `all` when all do.
`phrase` patterns are word sequences (token "0" = any number) matched with
escaped, linear-time regexes; `regex` patterns are written by people and run
guarded (see patterns.py).

Mining ranks word 1–3-grams of the field by chi² between positives and
negatives of the fold's training rows, then grows the rule greedily while
MCC on those rows improves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .examples import TEXT_FIELDS, as_examples, field_texts
from .metrics import _vector_mcc
from .patterns import Matcher, PatternError, validate_user_regex
from .spec import SpecError, Verdict, envelope, verdicts
from .workspace import Workspace

CANDIDATES_CONTAINS = 40
CANDIDATES_LACKS = 20
MIN_GAIN = 0.01


def fit_rule(ws: Workspace, rows: np.ndarray, *, field: str, max_clauses: int = 2, **_: Any) -> dict[str, Any]:
    y = ws.actual_fail[rows]
    candidates = _candidates(ws, field, rows, y)
    if not candidates:
        # Nothing separates the labels: a rule that never fires (MCC undefined, scored as such).
        return envelope("rule", combine="any", clauses=[])
    coverage = np.column_stack([c[2] for c in candidates])
    chosen, op = _grow(coverage, y, max_clauses)
    clauses = [
        {"field": field, "kind": "phrase", "pattern": candidates[i][0], "negate": candidates[i][1], "case_sensitive": False}
        for i in chosen
    ]
    return envelope("rule", combine=op, clauses=clauses)


def _candidates(ws: Workspace, field: str, rows: np.ndarray, y: np.ndarray) -> list[tuple[str, bool, np.ndarray]]:
    """(phrase, negate, fires-on-train-rows) for the n-grams most associated with the labels."""
    presence, names, order_penalty = ws.presence(field)
    if not names:
        return []
    train = presence[rows]
    a = np.asarray(train[y].sum(axis=0)).ravel()  # positives containing the n-gram
    b = np.asarray(train[~y].sum(axis=0)).ravel()  # negatives containing it
    n1, n0 = float(y.sum()), float((~y).sum())
    c, d = n1 - a, n0 - b
    n = n1 + n0
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * n1 * n0)
    chi2 = np.nan_to_num(chi2)
    rate_difference = a / n1 - b / n0
    picked = []
    for negate, sign, limit in ((False, 1.0, CANDIDATES_CONTAINS), (True, -1.0, CANDIDATES_LACKS)):
        eligible = np.flatnonzero((sign * rate_difference > 0) & ((b if negate else a) >= 2))
        order = eligible[np.lexsort((order_penalty[eligible], -chi2[eligible]))][: limit * 3]
        if not len(order):
            continue
        present = train[:, order].toarray() > 0
        seen: set[bytes] = set()
        for k, column in enumerate(order):
            fires = ~present[:, k] if negate else present[:, k]
            key = np.packbits(fires).tobytes()
            if key in seen:  # same training rows as a better phrase: redundant
                continue
            seen.add(key)
            picked.append((names[column], negate, fires))
            if len(seen) >= limit:
                break
    return picked


def _grow(coverage: np.ndarray, y: np.ndarray, max_clauses: int) -> tuple[list[int], str]:
    """Greedy forward selection of clauses for `any` and for `all`; the better rule wins."""
    best_single = int(np.argmax(_mcc_of_columns(coverage, y)))
    outcomes = []
    for op in ("any", "all"):
        chosen, fires = [best_single], coverage[:, best_single].copy()
        score = _mcc_of_columns(fires[:, None], y)[0]
        while len(chosen) < max_clauses:
            trial = (fires[:, None] | coverage) if op == "any" else (fires[:, None] & coverage)
            scores = _mcc_of_columns(trial, y)
            scores[chosen] = -np.inf
            best = int(np.argmax(scores))
            if scores[best] < score + MIN_GAIN:
                break
            chosen.append(best)
            fires, score = trial[:, best], scores[best]
        outcomes.append((score, -len(chosen), chosen, op))
    score, _, chosen, op = max(outcomes, key=lambda o: (o[0], o[1]))
    return chosen, op


def _mcc_of_columns(fires: np.ndarray, y: np.ndarray) -> np.ndarray:
    yc = y[:, None]
    tp = (fires & yc).sum(axis=0)
    fp = (fires & ~yc).sum(axis=0)
    fn = (~fires & yc).sum(axis=0)
    tn = (~fires & ~yc).sum(axis=0)
    return np.nan_to_num(_vector_mcc(tp, fp, fn, tn), nan=-1.0)


class RuleEvaluator:
    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.op = spec.get("combine", "any")
        if self.op not in ("any", "all"):
            raise SpecError("rule combine must be 'any' or 'all'")
        self.clauses = [_clause(c) for c in spec.get("clauses", [])]

    def _fires(self, texts_of) -> tuple[np.ndarray, list[list[str | None]]]:
        matches = [c["matcher"].search_many(texts_of(c["field"])) for c in self.clauses]
        fires = np.array(
            [[(m is not None) != c["negate"] for m in found] for c, found in zip(self.clauses, matches)], dtype=bool
        )
        return fires, matches

    def _decide(self, fires: np.ndarray, n: int) -> np.ndarray:
        if not self.clauses:
            return np.zeros(n, dtype=bool)
        return fires.any(axis=0) if self.op == "any" else fires.all(axis=0)

    def predict(self, examples) -> tuple[np.ndarray, np.ndarray]:
        cache: dict[str, list[str]] = {}
        fires, _ = self._fires(lambda f: cache.setdefault(f, field_texts(examples, f)))
        fail = self._decide(fires, len(examples))
        return fail, fail.astype(float)

    def predict_texts(self, texts_of, n: int) -> np.ndarray:
        fires, _ = self._fires(texts_of)
        return self._decide(fires, n)

    def evaluate(self, traces) -> list[Verdict]:
        examples = as_examples(traces)
        cache: dict[str, list[str]] = {}
        fires, matches = self._fires(lambda f: cache.setdefault(f, field_texts(examples, f)))
        fail = self._decide(fires, len(examples))
        explanations = [self._explain(i, bool(fail[i]), fires, matches) for i in range(len(examples))]
        return verdicts(fail, fail.astype(float), explanations)

    def _explain(self, i: int, failed: bool, fires: np.ndarray, matches) -> str:
        if not self.clauses:
            return "empty rule: never fails"
        # A failure is explained by the clauses that fired, a pass by those that did not.
        said = "; ".join(
            _describe(c, matches[k][i]) for k, c in enumerate(self.clauses) if bool(fires[k, i]) == failed
        )
        if failed:
            return said
        return ("no clause fired: " if self.op == "any" else "not every clause held: ") + said


def _clause(data: dict[str, Any]) -> dict[str, Any]:
    field = data.get("field", "output")
    if field not in TEXT_FIELDS:
        raise SpecError(f"unknown field {field!r}")
    kind = data.get("kind", "phrase")
    pattern = str(data.get("pattern", ""))
    if kind not in ("phrase", "regex"):
        raise SpecError("clause kind must be 'phrase' or 'regex'")
    try:
        if kind == "regex":
            validate_user_regex(pattern)
        elif not pattern.split():
            raise PatternError("empty phrase")
    except PatternError as error:
        raise SpecError(str(error)) from None
    matcher = Matcher(pattern, kind, bool(data.get("case_sensitive", False)))
    return {"field": field, "negate": bool(data.get("negate", False)), "matcher": matcher}


def _describe(clause: dict[str, Any], match: str | None) -> str:
    shown = f"/{clause['matcher'].shown}/"
    if match is not None:
        snippet = match if len(match) <= 80 else match[:77] + "..."
        return f"matched {shown} in {clause['field']} ({snippet!r})"
    return f"{clause['field']} lacks {shown}"


def predict_rows(spec: dict[str, Any], ws: Workspace, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    evaluator = RuleEvaluator(spec)
    fail = evaluator.predict_texts(lambda f: [ws.texts(f)[i] for i in rows], len(rows))
    return fail, fail.astype(float)
