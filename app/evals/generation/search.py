"""Search over candidate evaluators, scored by cross-validation on the training split only.

A *recipe* is a family plus hyperparameters (e.g. "rules on output, up to 3
clauses"). Its fitness is the MCC of pooled out-of-fold predictions of
repeated stratified group k-fold: in every fold the recipe is re-mined from
the fold's training rows (phrases, thresholds, vocabulary, weights), and
predicts the fold's test rows. A *candidate* is one recipe or an any/all
combination of recipes; combinations reuse their parts' fold predictions, so
they cost no refit.

The search is evolutionary over a Pareto front (fitness up, complexity and
cost down): each generation combines front members and mutates their
hyperparameters, for a fixed number of generations (deterministic for a seed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import classifier, rules, structure
from .metrics import Confusion, mcc
from .spec import combine, merge_flags, spec_complexity, spec_cost
from .splits import Fold
from .workspace import Workspace

MIN_FIELD_SHARE = 0.3
SELECTION_TOLERANCE = 0.02
MAX_PARTS = 3

FAMILIES: dict[str, tuple[Callable, Callable]] = {
    "rule": (rules.fit_rule, rules.predict_rows),
    "structure": (structure.fit_structure, structure.predict_rows),
    "classifier": (classifier.fit_classifier, classifier.predict_rows),
}


@dataclass(frozen=True)
class Recipe:
    family: str
    params: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, family: str, **params: Any) -> "Recipe":
        return cls(family, tuple(sorted(params.items())))

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def name(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.family}({shown})"

    def fit(self, ws: Workspace, rows: np.ndarray, seed: int) -> dict[str, Any]:
        return FAMILIES[self.family][0](ws, rows, seed=seed, **self.kwargs)

    def predict(self, spec: dict[str, Any], ws: Workspace, rows: np.ndarray) -> np.ndarray:
        return FAMILIES[self.family][1](spec, ws, rows)[0]


@dataclass(eq=False)  # identity: candidates hold arrays, and each recipe set appears once
class Candidate:
    recipes: tuple[Recipe, ...]
    op: str | None  # None for one recipe, else "any" | "all" | "majority"
    predictions: np.ndarray  # (repeats, examples) out-of-fold fail flags
    complexity: float
    cost: float
    fitness: float | None = None
    fitness_reason: str | None = None
    generation: int = 0

    @property
    def name(self) -> str:
        if self.op is None:
            return self.recipes[0].name
        if self.op == "majority":
            return "MAJORITY(" + ", ".join(r.name for r in self.recipes) + ")"
        return f" {self.op.upper()} ".join(r.name for r in self.recipes)

    @property
    def key(self) -> tuple:
        return (self.op, tuple(sorted(json.dumps([r.family, r.params], default=str) for r in self.recipes)))

    def sort_value(self) -> float:
        return -1.0 if self.fitness is None else self.fitness

    def summary(self, on_front: bool) -> dict[str, Any]:
        return {
            "name": self.name,
            "cv_mcc": self.fitness,
            "cv_mcc_undefined_reason": self.fitness_reason,
            "complexity": round(self.complexity, 2),
            "cost": self.cost,
            "generation": self.generation,
            "pareto": on_front,
        }


@dataclass
class SearchSettings:
    n_splits: int = 5
    n_repeats: int = 2
    generations: int = 3
    children_per_generation: int = 12
    max_seconds: float | None = None  # a safety net; set, it makes results depend on machine speed
    rule_fields: tuple[str, ...] | None = None


@dataclass
class SearchOutcome:
    best: Candidate
    candidates: list[Candidate]
    front: list[Candidate]
    notes: list[str] = field(default_factory=list)
    selection_mcc: tuple[float | None, str | None] = (None, None)
    # Out-of-fold predictions the figure rests on: the share of CV repeats in which each
    # example was predicted fail by the procedure's pick (NaN where no fold tested it).
    selection_share: np.ndarray | None = None
    n_splits: int = 5
    n_repeats: int = 2


def base_recipes(ws: Workspace, settings: SearchSettings) -> list[Recipe]:
    fields = settings.rule_fields or ("output", "input", "system", "conversation", "tool_calls", "tool_results", "metadata")
    filled = [f for f in fields if ws.filled_share(f) >= MIN_FIELD_SHARE]
    recipes = [Recipe.of("rule", field=f, max_clauses=k) for f in filled for k in (1, 3)]
    recipes += [Recipe.of("structure", max_conditions=k) for k in (1, 2)]
    views = ["output"] if ws.filled_share("output") >= MIN_FIELD_SHARE else []
    if ws.filled_share("input") >= MIN_FIELD_SHARE:
        views.append("input_output")
    if any(e.messages for e in ws.examples):
        views.append("full")
    recipes += [Recipe.of("classifier", view=v, C=1.0, with_structure=False, threshold="balanced") for v in views]
    if views:
        # The plain reference (word 1-2-grams of input and output, balanced LR): always a candidate,
        # and `pick` keeps it unless something beats it clearly.
        recipes.append(Recipe.of("classifier", view="input_output" if "input_output" in views else views[0], C=1.0,
                                 with_structure=False, threshold="balanced", words_only=True))
    if views:
        recipes.append(Recipe.of("classifier", view=views[-1], C=1.0, with_structure=True, threshold="balanced"))
        recipes.append(Recipe.of("classifier", view=views[-1], C=1.0, with_structure=False, threshold="tuned"))
    return recipes


def mutations(recipe: Recipe) -> list[Recipe]:
    """Neighbouring hyperparameters of a recipe."""
    p = recipe.kwargs
    if recipe.family == "rule":
        return [Recipe.of("rule", field=p["field"], max_clauses=k) for k in (2, 4) if k != p["max_clauses"]]
    if recipe.family == "structure":
        return [Recipe.of("structure", max_conditions=3)] if p["max_conditions"] < 3 else []
    if recipe.family == "classifier":
        out = [Recipe.of("classifier", **{**p, "C": c}) for c in (p["C"] / 10, p["C"] * 10) if 0.001 <= c <= 100]
        out.append(Recipe.of("classifier", **{**p, "with_structure": not p["with_structure"]}))
        out.append(Recipe.of("classifier", **{**p, "threshold": "tuned" if p["threshold"] == "balanced" else "balanced"}))
        return out
    return []


class CrossValidator:
    """Fold predictions of recipes, computed once and reused by every candidate that contains them."""

    def __init__(self, ws: Workspace, folds: list[Fold], n_repeats: int, seed: int,
                 cache: dict | None = None, hidden: np.ndarray | None = None):
        self.ws, self.folds, self.n_repeats, self.seed = ws, folds, n_repeats, seed
        self._cache: dict[Recipe, tuple[np.ndarray, float, float]] = {} if cache is None else cache
        self.hidden = np.zeros(len(ws), dtype=bool) if hidden is None else hidden

    def fitted_recipes(self) -> list[Recipe]:
        return list(self._cache)

    def without(self, rows: np.ndarray) -> "CrossValidator":
        """The same fold fits (shared cache), scored without the labels of `rows`: a search run
        on it makes every choice as if those rows were unlabelled."""
        hidden = np.zeros(len(self.ws), dtype=bool)
        hidden[rows] = True
        return CrossValidator(self.ws, self.folds, self.n_repeats, self.seed, self._cache, hidden)

    def run(self, recipe: Recipe) -> tuple[np.ndarray, float, float]:
        if recipe not in self._cache:
            predictions = np.zeros((self.n_repeats, len(self.ws)), dtype=bool)
            complexities, costs = [], []
            for k, fold in enumerate(self.folds):
                spec = recipe.fit(self.ws, fold.train, self.seed + k)
                predictions[fold.repeat, fold.test] = recipe.predict(spec, self.ws, fold.test)
                complexities.append(spec_complexity(spec))
                costs.append(spec_cost(spec))
            self._cache[recipe] = (predictions, float(np.mean(complexities)), float(np.mean(costs)))
        return self._cache[recipe]

    def candidate(self, recipe: Recipe, generation: int) -> Candidate:
        predictions, complexity, cost = self.run(recipe)
        return self.score(Candidate((recipe,), None, predictions, complexity, cost, generation=generation))

    @property
    def covered(self) -> np.ndarray:
        """(repeats, examples): which examples each repeat's folds tested."""
        covered = np.zeros((self.n_repeats, len(self.ws)), dtype=bool)
        for fold in self.folds:
            covered[fold.repeat, fold.test] = True
        return covered

    def pooled_mcc(self, predictions: np.ndarray) -> tuple[float | None, str | None]:
        """MCC of out-of-fold predictions (repeats x examples), pooled over repeats; hidden rows left out."""
        scored = self.covered & ~self.hidden
        actual = np.broadcast_to(self.ws.actual_fail, scored.shape)
        return mcc(Confusion.of(actual[scored], predictions[scored]))

    def fail_share(self, predictions: np.ndarray) -> np.ndarray:
        """Per example, the share of the repeats testing it that predicted fail (NaN if none did)."""
        covered = self.covered
        with np.errstate(invalid="ignore"):
            return (predictions & covered).sum(axis=0) / covered.sum(axis=0)

    def score(self, candidate: Candidate) -> Candidate:
        candidate.fitness, candidate.fitness_reason = self.pooled_mcc(candidate.predictions)
        return candidate


def combined(a: Candidate, b: Candidate, op: str, cv: CrossValidator, generation: int) -> Candidate | None:
    if a.op not in (None, op) or b.op not in (None, op):
        return None  # keep combinations flat: one operator per evaluator
    recipes = tuple(dict.fromkeys(a.recipes + b.recipes))
    if len(recipes) > MAX_PARTS or len(recipes) == max(len(a.recipes), len(b.recipes)):
        return None
    return _combination(recipes, op, cv, generation)


def _combination(recipes: tuple[Recipe, ...], op: str, cv: CrossValidator, generation: int) -> Candidate | None:
    parts = [cv.run(r) for r in recipes]
    if any(p[1] == 0 for p in parts):
        return None  # a part that mined nothing adds nothing
    predictions = merge_flags(op, np.stack([p[0] for p in parts]))
    return cv.score(
        Candidate(recipes, op, predictions, sum(p[1] for p in parts), sum(p[2] for p in parts), generation=generation)
    )


def majority_votes(singles: list[Candidate], cv: CrossValidator, generation: int) -> list[Candidate]:
    """Majority votes of three strong, different single recipes: voting cuts the variance of each."""
    top = sorted(singles, key=lambda c: -c.sort_value())[:5]
    votes = []
    for i, a in enumerate(top):
        for j in range(i + 1, len(top)):
            for b in top[j + 1 :]:
                vote = _combination((a.recipes[0], top[j].recipes[0], b.recipes[0]), "majority", cv, generation)
                if vote is not None:
                    votes.append(vote)
    return votes


def pareto_front(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates no other beats on fitness while being no more complex and no more costly."""
    front = []
    for c in candidates:
        dominated = any(
            o.sort_value() >= c.sort_value()
            and o.complexity <= c.complexity
            and o.cost <= c.cost
            and (o.sort_value() > c.sort_value() or o.complexity < c.complexity or o.cost < c.cost)
            for o in candidates
        )
        if not dominated:
            front.append(c)
    return sorted(front, key=lambda c: -c.sort_value())


def select(candidates: list[Candidate]) -> Candidate:
    """The cheapest, simplest candidate within SELECTION_TOLERANCE of the best fitness.

    A small margin buys a lot of readability and speed; CV noise is larger
    than the margin anyway.
    """
    best = max(c.sort_value() for c in candidates)
    close = [c for c in candidates if c.sort_value() >= best - SELECTION_TOLERANCE]
    return min(close, key=lambda c: (c.cost, c.complexity, -c.sort_value(), c.name))


def search(ws: Workspace, folds: list[Fold], settings: SearchSettings, seed: int) -> SearchOutcome:
    """Evolve candidates on every label and pick one; then estimate what that whole procedure
    delivers by running it again once per fold with that fold's labels hidden (nested, without
    refitting: fold fits are shared) and pooling each run's pick's predictions on its hidden fold."""
    started = time.monotonic()
    cv = CrossValidator(ws, folds, settings.n_repeats, seed)
    candidates, notes = evolve(cv, settings, seed, started)
    best = pick(candidates, ws)
    if best is not select(candidates):
        notes.append(f"kept {best.name}, a classifier with default settings: its CV MCC {best.fitness:.3f} is within "
                     f"{selection_margin(ws):.3f} of the best candidate's, less than the luck of picking among many")
    chosen = np.zeros((settings.n_repeats, len(ws)), dtype=bool)
    for fold in folds:
        shadow, _ = evolve(cv.without(fold.test), settings, seed, started, recipes=cv.fitted_recipes())
        chosen[fold.repeat, fold.test] = pick(shadow, ws).predictions[fold.repeat, fold.test]
    return SearchOutcome(best, candidates, pareto_front(candidates), notes, cv.pooled_mcc(chosen),
                         cv.fail_share(chosen), settings.n_splits, settings.n_repeats)


def evolve(cv: CrossValidator, settings: SearchSettings, seed: int, started: float,
           recipes: list[Recipe] | None = None) -> tuple[list[Candidate], list[str]]:
    """Candidates of the evolutionary search, best first, every choice made on `cv`'s visible labels.

    With `recipes` (the nested runs), those single recipes start the pool and no new recipe is
    fitted: combinations and votes are evolved afresh, which costs no fit. Which hyperparameter
    neighbours exist was decided by the full search, a small leak next to choosing among them;
    fitting them again per nested run would multiply the cost of generation by ten."""
    rng = np.random.default_rng(seed)
    seen: dict[tuple, Candidate] = {}

    def add(candidate: Candidate | None) -> None:
        if candidate is not None and candidate.key not in seen:
            seen[candidate.key] = candidate

    for recipe in recipes if recipes is not None else base_recipes(cv.ws, settings):
        add(cv.candidate(recipe, 0))
    notes = []
    for generation in range(1, settings.generations + 1):
        if settings.max_seconds is not None and time.monotonic() - started > settings.max_seconds:
            notes.append(f"search stopped after {generation - 1} generations (time budget)")
            break
        pool = list(seen.values())
        front = pareto_front(pool)
        elite = sorted(pool, key=lambda c: -c.sort_value())[:6]
        parents = list({c.key: c for c in front + elite}.values())
        children: list[Candidate | None] = []
        for i, a in enumerate(parents):
            for b in parents[i + 1 :]:
                for op in ("any", "all"):
                    children.append(combined(a, b, op, cv, generation))
        # Mutations need fresh CV fits: only for a few parents, drawn from the front.
        single = [c for c in parents if c.op is None]
        if single and recipes is None:
            picks = rng.choice(len(single), size=min(3, len(single)), replace=False)
            for index in sorted(picks.tolist()):
                for recipe in mutations(single[index].recipes[0]):
                    children.append(cv.candidate(recipe, generation))
        if generation == 1:
            children.extend(majority_votes([c for c in pool if c.op is None], cv, generation))
        fresh = [c for c in children if c is not None and c.key not in seen]
        fresh.sort(key=lambda c: (-c.sort_value(), c.complexity, c.name))
        for child in fresh[: settings.children_per_generation]:
            add(child)
    return sorted(seen.values(), key=lambda c: (-c.sort_value(), c.complexity, c.name)), notes


PLAIN_CLASSIFIER = {"C": 1.0, "with_structure": False, "threshold": "balanced"}


def selection_margin(ws: Workspace) -> float:
    """How far a candidate must beat the plain classifier to be preferred: one standard error of an
    MCC over this many groups, about 1/sqrt(groups) (the one-standard-error rule of model selection).
    On little data the best of many candidates is often a lucky one; a plain classifier, fixed before
    the search, carries little of that luck. On tau-bench splits (30 groups) rules that led the
    reference by ~0.1 in CV reached half its MCC on unseen tasks."""
    return 1.0 / np.sqrt(max(len(set(ws.groups)), 1))


def pick(candidates: list[Candidate], ws: Workspace) -> Candidate:
    """`select`'s choice, unless the plain reference (or, without one, the best plain classifier)
    is within `selection_margin` of it: then that plain classifier.

    The reference is one recipe fixed before the search; preferring the best of several plain
    classifiers would be a selection again, with its own luck."""
    best = select(candidates)
    plain = [c for c in candidates if c.op is None and c.recipes[0].family == "classifier"
             and all(c.recipes[0].kwargs.get(k) == v for k, v in PLAIN_CLASSIFIER.items()) and c.fitness is not None]
    reference = [c for c in plain if c.recipes[0].kwargs.get("words_only")]
    if not plain:
        return best
    top = reference[0] if reference else max(plain, key=lambda c: (c.sort_value(), -c.complexity))
    return top if top.sort_value() >= best.sort_value() - selection_margin(ws) else best


def fit_candidate(candidate_recipes: tuple[Recipe, ...], op: str | None, ws: Workspace, seed: int) -> dict[str, Any]:
    """Fit a candidate's recipe(s) on every row of a workspace: the spec to score or to use."""
    rows = np.arange(len(ws))
    specs = [recipe.fit(ws, rows, seed) for recipe in candidate_recipes]
    return specs[0] if op is None else combine(op, specs)
