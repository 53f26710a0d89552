"""From labelled examples to an evaluator with honest figures.

1. Check there is enough data (MIN_PER_LABEL of each label).
2. Search candidates by repeated grouped CV on all labelled examples.
3. The figure shown is the estimate of the whole search-and-select procedure:
   in every fold the pick is made without that fold's labels, and the pooled
   out-of-fold predictions of those picks give MCC, its 95% interval (groups
   resampled whole), TPR, TNR, precision and the confusion matrix. Every label
   serves as evidence once; a single held-out split would waste ~70% of them
   on small sets, and its figure would rest on a few dozen examples.
4. Refit the winner on all examples: that is the spec to use.

With an LLM configured, the judge family is optimised by LLM calls; repeating
that in every fold would multiply its cost, so then ~30% is held out instead
(grouped, stratified), the search and the judge see only the rest, and the
figure is measured once on the held-out part before the refit.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from .examples import MIN_PER_LABEL, Example, as_examples
from .metrics import binary_metrics
from .search import Candidate, SearchSettings, fit_candidate, search
from .spec import compile_spec
from .llm import client_for
from .splits import SplitError, cv_folds, holdout_split
from .workspace import Workspace


@dataclass
class Budget:
    """How much work the search may do. Counts, not seconds, so that a seed fixes the result."""

    n_splits: int = 5
    n_repeats: int = 2
    generations: int = 3
    max_seconds: float | None = None
    # LLM judge only:
    llm_max_calls: int = 400
    llm_max_tokens: int = 400_000
    judge_iterations: int = 6


@dataclass
class InsufficientData:
    """Too few labelled examples for an evaluator; says how many more are needed."""

    n_fail: int
    n_pass: int
    more_fail_needed: int
    more_pass_needed: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"status": "insufficient_data", **asdict(self)}


@dataclass
class GenerationResult:
    spec: dict[str, Any]  # refit on all examples: the evaluator to use
    metrics: dict[str, Any]  # on the held-out split, of the spec fitted on the training split
    cv: dict[str, Any]  # the search's own estimate (training split only)
    leaderboard: list[dict[str, Any]]
    sizes: dict[str, int]
    refit_on_all: bool
    notes: list[str] = field(default_factory=list)
    seed: int = 0
    elapsed_s: float = 0.0
    holdout_spec: dict[str, Any] | None = None  # what the held-out figures were measured on
    # (actual, predicted fail share, groups) the figure was computed from; not stored or serialised.
    evidence: tuple | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ok", **{k: v for k, v in asdict(self).items() if k != "evidence"}}


def check_minimum(examples: list[Example]) -> InsufficientData | None:
    n_fail = sum(e.is_fail for e in examples)
    n_pass = sum(e.label == "pass" for e in examples)
    more_fail, more_pass = max(0, MIN_PER_LABEL - n_fail), max(0, MIN_PER_LABEL - n_pass)
    if not (more_fail or more_pass):
        return None
    wanted = []
    if more_fail:
        wanted.append(f"{more_fail} more positive{'s' if more_fail > 1 else ''} (failed examples)")
    if more_pass:
        wanted.append(f"{more_pass} more negative{'s' if more_pass > 1 else ''} (passing examples)")
    return InsufficientData(n_fail, n_pass, more_fail, more_pass, "needs " + " and ".join(wanted))


def generate(
    examples: Iterable[Example | Mapping[str, Any]],
    *,
    issue_title: str = "",
    issue_description: str = "",
    seed: int = 0,
    llm: Any = None,
    budget: Budget | None = None,
) -> GenerationResult | InsufficientData:
    """Generate an evaluator for one failure mode from labelled examples (see module doc)."""
    started = time.monotonic()
    budget = budget or Budget()
    labelled = [e for e in as_examples(examples) if e.label is not None]
    too_few = check_minimum(labelled)
    if too_few:
        return too_few
    actual = np.array([e.is_fail for e in labelled])
    groups = [e.group_key for e in labelled]
    settings = SearchSettings(
        n_splits=budget.n_splits, n_repeats=budget.n_repeats, generations=budget.generations, max_seconds=budget.max_seconds
    )
    try:
        if llm is None:
            return _generate_by_cv(labelled, settings, seed, started)
        train_rows, holdout_rows = holdout_split(actual, groups, seed=seed)
        train_ws = Workspace([labelled[i] for i in train_rows])
        folds = cv_folds(train_ws.actual_fail, train_ws.groups, n_splits=budget.n_splits, n_repeats=budget.n_repeats, seed=seed)
    except SplitError as error:
        return InsufficientData(int(actual.sum()), int((~actual).sum()), 0, 0, f"cannot split the examples: {error}")
    outcome = search(train_ws, folds, settings, seed)
    holdout = [labelled[i] for i in holdout_rows]
    llm = client_for(llm, max_calls=budget.llm_max_calls, max_tokens=budget.llm_max_tokens)
    choice = _choose(outcome, train_ws, labelled, holdout, llm, issue_title, issue_description, budget, seed)
    predicted, _ = compile_spec(choice.holdout_spec, llm=llm).predict(holdout)
    metrics = binary_metrics([e.is_fail for e in holdout], predicted, groups=[e.group_key for e in holdout], seed=seed)
    metrics["measured_by"] = "holdout"
    return _result(choice, metrics, outcome, labelled, len(train_rows), len(holdout_rows), seed, started,
                   evidence=(np.array([e.is_fail for e in holdout]), predicted, [e.group_key for e in holdout]))


def _generate_by_cv(labelled: list[Example], settings: SearchSettings, seed: int, started: float) -> GenerationResult:
    """Search on all examples; the figure is the CV estimate of the search-and-select procedure."""
    ws = Workspace(labelled)
    folds = cv_folds(ws.actual_fail, ws.groups, n_splits=settings.n_splits, n_repeats=settings.n_repeats, seed=seed)
    outcome = search(ws, folds, settings, seed)
    tested = ~np.isnan(outcome.selection_share)
    evidence = (ws.actual_fail[tested], outcome.selection_share[tested], [g for g, t in zip(ws.groups, tested) if t])
    metrics = binary_metrics(*evidence[:2], groups=evidence[2], seed=seed)
    metrics["measured_by"] = "cv"
    best = outcome.best
    spec = fit_candidate(best.recipes, best.op, ws, seed)
    value, reason = outcome.selection_mcc
    choice = _Choice(best.name, spec, spec, {"mcc": value, "mcc_undefined_reason": reason,
                                             "search_mcc": best.fitness}, True, [CV_NOTE])
    return _result(choice, metrics, outcome, labelled, len(labelled), 0, seed, started, evidence=evidence)


def _result(choice, metrics, outcome, labelled, n_train, n_holdout, seed, started, evidence) -> GenerationResult:
    front = {id(c) for c in outcome.front}
    actual = np.array([e.is_fail for e in labelled])
    return GenerationResult(
        spec=choice.final_spec,
        metrics=metrics,
        cv={**choice.cv_figure, "chosen": choice.name, "n_splits": outcome.n_splits, "n_repeats": outcome.n_repeats,
            "n_candidates": len(outcome.candidates)},
        leaderboard=[c.summary(on_front=id(c) in front) for c in outcome.candidates],
        sizes={
            "n_examples": len(labelled),
            "n_train": n_train,
            "n_holdout": n_holdout,
            "n_fail": int(actual.sum()),
            "n_pass": int((~actual).sum()),
            "n_groups": len({e.group_key for e in labelled}),
            "n_refit": len(labelled) if choice.refit else n_train,
        },
        refit_on_all=choice.refit,
        notes=outcome.notes + choice.notes + [HONESTY_NOTE],
        seed=seed,
        elapsed_s=round(time.monotonic() - started, 3),
        holdout_spec=choice.holdout_spec,
        evidence=evidence,
    )


CV_NOTE = ("the figure is the repeated grouped cross-validation estimate of the whole search-and-select "
           "procedure on all labelled examples (for each fold, the search run again with that fold's labels hidden); "
           "the evaluator was then refitted on all of them")
HONESTY_NOTE = (
    "cv.mcc estimates the search-and-select procedure (for each fold, searched again without that fold's labels); "
    "cv.search_mcc, the winner's own CV figure, is the best of many and leans optimistic"
)


@dataclass
class _Choice:
    name: str
    holdout_spec: dict[str, Any]  # fitted without the held-out split: what the figures measure
    final_spec: dict[str, Any]  # what is used
    cv_figure: dict[str, Any]
    refit: bool
    notes: list[str]


def _choose(outcome, train_ws, labelled, holdout, llm, issue_title, issue_description, budget, seed) -> _Choice:
    """The search's winner, or an LLM judge when one is configured and clearly better."""
    best: Candidate = outcome.best
    notes: list[str] = []
    if llm is not None:
        from .judge import consider_judge

        judged = consider_judge(
            train_ws, holdout, best, llm, issue_title=issue_title, issue_description=issue_description,
            budget=budget, seed=seed,
        )
        notes.extend(judged.notes)
        if judged.chosen:
            notes.append("the judge prompt was optimised on the training split and is not re-optimised on all examples")
            return _Choice("llm judge", judged.spec, judged.spec, judged.fitness_summary, False, notes)
    value, reason = outcome.selection_mcc
    return _Choice(
        best.name,
        fit_candidate(best.recipes, best.op, train_ws, seed),
        fit_candidate(best.recipes, best.op, Workspace(labelled), seed),
        {"mcc": value, "mcc_undefined_reason": reason, "search_mcc": best.fitness},
        True,
        notes,
    )


def score_spec(
    spec: Mapping[str, Any], examples: Iterable[Example | Mapping[str, Any]], *, llm: Any = None, seed: int = 0
) -> dict[str, Any]:
    """Score any spec (generated or written by a person) against labelled examples, the same way."""
    labelled = [e for e in as_examples(examples) if e.label is not None]
    predicted, _ = compile_spec(spec, llm=llm).predict(labelled)
    return binary_metrics([e.is_fail for e in labelled], predicted, groups=[e.group_key for e in labelled], seed=seed)
