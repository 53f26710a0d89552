"""Classifier: TF-IDF word + char n-grams (+ structural facts) -> logistic regression.

Spec (family "classifier"), plain JSON, applied by our own sparse code:
    {"view": "output" | "input_output" | "full",
     "vocabulary": ["w:refund", "w:refund within", "c: ref", ...],
     "idf": [...], "coef": [...], "intercept": float, "threshold": float,
     "structure": null | {"context": {...}, "features": [...], "mean": [...], "scale": [...], "coef": [...]},
     "C": float}
Text features: sublinear tf (1 + log count) x idf, rows L2-normalised.
Structure features: log1p, then standardised with the stored mean/scale.
score = sigmoid(x . coef + intercept); fail when score >= threshold. The
threshold maximises MCC on out-of-fold scores of an inner grouped CV, never
on the training predictions themselves (those separate far too well).
"""

from __future__ import annotations

import warnings
from functools import cached_property
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from . import textvec
from .examples import as_examples
from .facts import StructureContext, facts_of, feature_matrix, learn_context, log_scaled
from .metrics import best_threshold
from .spec import SpecError, Verdict, envelope, verdicts
from .splits import SplitError, inner_folds
from .workspace import CLASSIFIER_VIEWS, Workspace, view_texts

MAX_FEATURES = 20_000
CHAR_BLOCK = 2  # textvec blocks: unigrams, bigrams, character n-grams
MIN_DF = 2


def fit_classifier(
    ws: Workspace,
    rows: np.ndarray,
    *,
    view: str = "full",
    C: float = 1.0,
    with_structure: bool = False,
    threshold: str = "balanced",
    words_only: bool = False,
    seed: int = 0,
    **_: Any,
) -> dict[str, Any]:
    """Fit on `rows` of the workspace. `threshold`: "balanced" keeps 0.5, the natural cut of a
    class-balanced model; "tuned" maximises MCC on inner out-of-fold scores. Which one generalises
    better depends on the data (tuning is noisy on few examples), so the search tries both.
    `words_only`: word 1-2-grams, no character n-grams (the plain reference of bench/evals.py)."""
    counts, names = ws.counts(view)
    train_counts = counts[rows]
    y = ws.actual_fail[rows]
    columns = _select_columns(train_counts)
    if words_only:
        columns = columns[[textvec.block_of(names[c]) != CHAR_BLOCK for c in columns]]
    idf = _idf(train_counts[:, columns])
    text = _tfidf(train_counts[:, columns], idf)
    structure = _fit_structure([ws.facts[i] for i in rows], y) if with_structure else None
    design = _design(text, structure, [ws.facts[i] for i in rows])
    groups = [ws.groups[i] for i in rows]
    cut = _tune_threshold(design, y, groups, C, seed) if threshold == "tuned" else 0.5
    model = _fit_logistic(C, seed, design, y)
    coef = model.coef_.ravel()
    n_text = len(columns)
    if structure is not None:
        structure["coef"] = coef[n_text:].tolist()
    return envelope(
        "classifier",
        view=view,
        vocabulary=[names[c] for c in columns],
        idf=idf.tolist(),
        coef=coef[:n_text].tolist(),
        intercept=float(model.intercept_[0]),
        threshold=cut,
        structure=structure,
        C=C,
    )


def _select_columns(train_counts: sparse.csr_matrix) -> np.ndarray:
    """The MAX_FEATURES n-grams in most training documents (at least MIN_DF), in a stable order."""
    df = np.asarray((train_counts > 0).sum(axis=0)).ravel()
    eligible = np.flatnonzero(df >= MIN_DF)
    if len(eligible) > MAX_FEATURES:
        eligible = eligible[np.argsort(-df[eligible], kind="stable")[:MAX_FEATURES]]
    return np.sort(eligible)


def _idf(train_counts: sparse.csr_matrix) -> np.ndarray:
    n = train_counts.shape[0]
    df = np.asarray((train_counts > 0).sum(axis=0)).ravel()
    return np.log((1 + n) / (1 + df)) + 1.0


def _tfidf(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """(1 + log tf) * idf, rows L2-normalised: computed on the CSR arrays directly, in one pass each."""
    # Counts arrive with duplicates already summed (see textvec), so no sort is needed here.
    matrix = sparse.csr_matrix(counts, dtype=np.float64, copy=True)
    data = (1.0 + np.log(matrix.data)) * idf[matrix.indices]
    row_of_value = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    norms = np.sqrt(np.bincount(row_of_value, weights=data * data, minlength=matrix.shape[0]))
    norms[norms == 0] = 1.0
    matrix.data = data / norms[row_of_value]
    return matrix


def _fit_structure(facts, y: np.ndarray) -> dict[str, Any]:
    context = learn_context(facts, y)
    names = context.feature_names()
    values = log_scaled(feature_matrix(facts, context, names))
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    scale[scale == 0] = 1.0
    return {"context": context.to_json(), "features": names, "mean": mean.tolist(), "scale": scale.tolist()}


def _structure_block(structure: dict[str, Any] | None, facts) -> sparse.csr_matrix | None:
    if structure is None:
        return None
    context = StructureContext.from_json(structure["context"])
    values = log_scaled(feature_matrix(facts, context, structure["features"]))
    return sparse.csr_matrix((values - np.asarray(structure["mean"])) / np.asarray(structure["scale"]))


def _design(text: sparse.csr_matrix, structure: dict[str, Any] | None, facts) -> sparse.csr_matrix:
    block = _structure_block(structure, facts)
    return text if block is None else sparse.hstack([text, block], format="csr")


def _logistic(C: float, seed: int, shape: tuple[int, int]) -> LogisticRegression:
    # The dual problem is far faster when there are more features than documents (the usual case here).
    return LogisticRegression(
        C=C, class_weight="balanced", solver="liblinear", dual=shape[1] > shape[0], max_iter=1000, random_state=seed
    )


def _fit_logistic(C: float, seed: int, design: sparse.csr_matrix, y: np.ndarray) -> LogisticRegression:
    with warnings.catch_warnings():
        # Weakly regularised fits may stop at max_iter; the model is still usable and is scored by CV.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _logistic(C, seed, design.shape).fit(design, y)


def _tune_threshold(design: sparse.csr_matrix, y: np.ndarray, groups: list[str], C: float, seed: int) -> float:
    """Inner grouped CV inside the training rows: out-of-fold scores, then the MCC-best cut."""
    try:
        folds = inner_folds(y, groups, n_splits=3, seed=seed)
    except SplitError:
        return 0.5
    scores = np.full(len(y), np.nan)
    for fold in folds:
        model = _fit_logistic(C, seed, design[fold.train], y[fold.train])
        scores[fold.test] = model.predict_proba(design[fold.test])[:, 1]
    known = ~np.isnan(scores)
    if known.sum() < 4 or len(set(y[known].tolist())) < 2:
        return 0.5
    threshold, _ = best_threshold(y[known], scores[known])
    return float(threshold)


class ClassifierEvaluator:
    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.view = spec.get("view", "full")
        if self.view not in CLASSIFIER_VIEWS:
            raise SpecError(f"unknown classifier view {self.view!r}")
        vocabulary = list(spec["vocabulary"])
        self.structure = spec.get("structure")
        n_structure = len((self.structure or {}).get("features", []))
        if not (len(spec["idf"]) == len(spec["coef"]) == len(vocabulary)) or (
            self.structure and len(self.structure.get("coef", [])) != n_structure
        ):
            raise SpecError("classifier vocabulary, idf and coefficients differ in length")
        # Columns are regrouped by block (word unigrams, bigrams, char n-grams) for fast counting.
        kinds = np.array([textvec.block_of(f) for f in vocabulary], dtype=np.int8)
        self.order = np.argsort(kinds, kind="stable")
        self.features = [vocabulary[i] for i in self.order]
        self._kinds = kinds[self.order]
        self.idf = np.asarray(spec["idf"], dtype=float)[self.order]
        text_coef = np.asarray(spec["coef"], dtype=float)[self.order]
        self.coef = np.concatenate([text_coef, np.asarray((self.structure or {}).get("coef", []), dtype=float)])
        self.intercept = float(spec["intercept"])
        self.threshold = float(spec["threshold"])

    @cached_property
    def blocks(self) -> list[textvec.Vocabulary]:
        """Vocabularies of the three blocks; built on first use (the search's fast path never needs them)."""
        return [textvec.Vocabulary.of([f for f, k in zip(self.features, self._kinds) if k == b]) for b in range(3)]

    def design(self, examples, counts: sparse.csr_matrix | None = None, facts=None) -> sparse.csr_matrix:
        if counts is None:
            counts = textvec.count_blocks(textvec.tokenise(view_texts(examples, self.view)), *self.blocks)
        text = _tfidf(counts, self.idf)
        if self.structure and facts is None:
            facts = [facts_of(e) for e in examples]
        return _design(text, self.structure, facts)

    def scores_of(self, design: sparse.csr_matrix) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(design @ self.coef + self.intercept)))

    def predict(self, examples) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores_of(self.design(examples))
        return scores >= self.threshold, scores

    def evaluate(self, traces) -> list[Verdict]:
        examples = as_examples(traces)
        design = self.design(examples)
        scores = self.scores_of(design)
        fail = scores >= self.threshold
        names = self.features + (self.structure["features"] if self.structure else [])
        contributions = sparse.csr_matrix(design.multiply(self.coef))
        strongest_fail = np.asarray(contributions.argmax(axis=1)).ravel()
        strongest_pass = np.asarray(contributions.argmin(axis=1)).ravel()
        explanations = [
            f"score {s:.3f} {'>=' if f else '<'} threshold {self.threshold:.3f}; strongest sign of "
            + (f"failure: {_readable(names[a])}" if f else f"passing: {_readable(names[b])}")
            for s, f, a, b in zip(scores.tolist(), fail.tolist(), strongest_fail.tolist(), strongest_pass.tolist())
        ]
        return verdicts(fail, scores, explanations)


def _readable(feature: str) -> str:
    if feature.startswith("w:"):
        return f"words {feature[2:]!r}"
    if feature.startswith("c:"):
        return f"characters {feature[2:]!r}"
    return feature


def predict_rows(spec: dict[str, Any], ws: Workspace, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Same numbers as ClassifierEvaluator.predict, from the workspace's cached counts."""
    evaluator = ClassifierEvaluator(spec)
    counts, _ = ws.counts(evaluator.view)
    column_of = ws.column_index(evaluator.view)
    columns = np.array([column_of[f] for f in evaluator.features], dtype=np.int64)  # in the evaluator's order
    facts = [ws.facts[i] for i in rows] if evaluator.structure else None
    design = evaluator.design([ws.examples[i] for i in rows], counts=counts[rows][:, columns], facts=facts)
    scores = evaluator.scores_of(design)
    return scores >= evaluator.threshold, scores
