"""Rules of the evals domain: examples from labels, generation, running, honest figures.

Never commits. Figures shown to people are always held-out figures (never seen
by the search) or realignment figures (labels the version was never fitted on).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy.orm import Session

from app.annotations import repository as annotations_repository
from app.annotations import service as annotations
from app.audit import service as audit
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.settings import eval_settings
from app.evals import generation, llm_budget, repository
from app.evals.llm_cache import RedisAnswerCache
from app.evals.models import FINISHED, GENERATING, Evaluator, EvaluatorVersion, RunStatus, VersionStatus
from app.issues import service as issues
from app.traces import service as traces_service

DRIFT_DROP = 0.1
MIN_REALIGN_EXAMPLES = 10
RATE_WINDOW = timedelta(days=7)


# ---------------------------------------------------------------------------
# Examples


@dataclass
class ExampleSet:
    positives: list[int]
    negatives: list[int]

    @property
    def trace_ids(self) -> list[int]:
        return self.positives + self.negatives

    def needs(self) -> str | None:
        """What is missing before an evaluator can be generated, in words; None when enough."""
        minimum = generation.MIN_PER_LABEL
        more_pos, more_neg = max(0, minimum - len(self.positives)), max(0, minimum - len(self.negatives))
        wanted = [f"{n} more {what if n > 1 else what.replace('examples', 'example')}"
                  for n, what in ((more_pos, "failed examples of this issue"), (more_neg, "passing examples")) if n]
        return "Needs " + " and ".join(wanted) + "." if wanted else None


def issue_example_set(session: Session, project_id: int, issue_id: int, *,
                      other_failures_as_negatives: bool = True) -> ExampleSet:
    """Positives: traces whose human label fails with this issue. Negatives: traces
    labelled pass, then (optionally) traces failed for other issues only."""
    labels = annotations.project_labels(session, project_id)
    return _example_set(labels, issue_id, other_failures_as_negatives)


def issue_example_sets(session: Session, project_id: int, issue_ids: Sequence[int]) -> dict[int, ExampleSet]:
    """The example sets of many issues, from one read of the project's labels."""
    labels = annotations.project_labels(session, project_id)
    return {issue_id: _example_set(labels, issue_id, True) for issue_id in issue_ids}


def _example_set(labels: dict, issue_id: int, other_failures_as_negatives: bool) -> ExampleSet:
    positives = sorted(t for t, label in labels.items() if label.verdict == "fail" and issue_id in label.issue_ids)
    negatives = sorted(t for t, label in labels.items() if label.verdict == "pass")
    if other_failures_as_negatives:
        negatives += sorted(t for t, label in labels.items()
                            if label.verdict == "fail" and label.issue_ids and issue_id not in label.issue_ids)
    return ExampleSet(positives=positives, negatives=negatives)


def examples_for(session: Session, example_set: ExampleSet) -> list[dict]:
    views = traces_service.trace_views(session, example_set.trace_ids)
    feedback = annotations_repository.fail_feedback_for_traces(session, example_set.positives)
    examples = [{**views[t], "label": "fail", "feedback": feedback.get(t, "")} for t in example_set.positives]
    examples += [{**views[t], "label": "pass"} for t in example_set.negatives]
    return examples


def labelled_examples(session: Session, project_id: int, issue_id: int) -> list[dict]:
    """The issue's examples as the generator reads them (and `sextant evals fit` takes them):
    its human-labelled failures, then the negatives; times as ISO strings for export."""
    issues.get_issues(session, project_id, [issue_id])  # 404 for another project's issue
    examples = examples_for(session, issue_example_set(session, project_id, issue_id))
    return [{**example, "start_time": example["start_time"].isoformat()} for example in examples]


# ---------------------------------------------------------------------------
# Evaluators and versions


def get_evaluator(session: Session, project_id: int, evaluator_id: int) -> Evaluator:
    evaluator = repository.get_evaluator(session, project_id, evaluator_id)
    if evaluator is None:
        raise NotFound("No such evaluator in this project.")
    return evaluator


def get_version(session: Session, evaluator: Evaluator, version_id: int) -> EvaluatorVersion:
    version = repository.get_version(session, version_id)
    if version is None or version.evaluator_id != evaluator.id:
        raise NotFound("No such version of this evaluator.")
    return version


def request_generation(session: Session, project_id: int, issue_id: int, *, actor_id: int | None) -> EvaluatorVersion:
    """A new pending version of the issue's generated evaluator (created if it has none)."""
    issue = issues.get_issues(session, project_id, [issue_id])[0]
    needs = issue_example_set(session, project_id, issue.id).needs()
    if needs:
        raise Unprocessable(needs, details={"field": "examples"})
    evaluator = repository.evaluator_for_issue(session, project_id, issue.id, "generated")
    if evaluator is None:
        evaluator = Evaluator(project_id=project_id, issue_id=issue.id, name=f"Detects: {issue.title}",
                              origin="generated", created_by_id=actor_id)
        session.add(evaluator)
        session.flush()
    elif any(v.status in GENERATING for v in repository.versions_of(session, evaluator.id)):
        raise Conflict("A version of this evaluator is already being generated.")
    return _new_version(session, evaluator, actor_id=actor_id)


def _new_version(session: Session, evaluator: Evaluator, *, actor_id: int | None, **fields) -> EvaluatorVersion:
    version = EvaluatorVersion(evaluator_id=evaluator.id, number=repository.next_version_number(session, evaluator.id),
                               created_by_id=actor_id, **fields)
    session.add(version)
    session.flush()
    return version


def run_generation(session: Session, version_id: int) -> EvaluatorVersion | None:
    """Generate the spec of a pending version, or score a hand-written one's (task body; a finished
    version is left alone)."""
    version = repository.get_version(session, version_id)
    if version is None or version.status in FINISHED:
        return version
    evaluator = session.get(Evaluator, version.evaluator_id)
    if evaluator.origin == "manual":
        return _score_manual_version(session, evaluator, version)
    issue = issues.get_issues(session, evaluator.project_id, [evaluator.issue_id])[0]
    example_set = issue_example_set(session, evaluator.project_id, issue.id)
    result = generation.generate(examples_for(session, example_set), issue_title=issue.title,
                                 issue_description=issue.description, llm=llm_config(), budget=_budget())
    if isinstance(result, generation.InsufficientData):
        version.status, version.error = VersionStatus.INSUFFICIENT, result.message
    else:
        _store_result(version, result, example_set)
    version.finished_at = utcnow()
    session.flush()
    return version


def _store_result(version: EvaluatorVersion, result, example_set: ExampleSet) -> None:
    metrics = result.metrics
    version.status, version.spec, version.family = VersionStatus.READY, result.spec, result.spec.get("family")
    version.metrics = metrics
    version.mcc = metrics["mcc"]
    version.mcc_ci_low, version.mcc_ci_high = (metrics.get("mcc_ci") or [None, None])[:2]
    version.tpr, version.tnr = metrics.get("tpr"), metrics.get("tnr")
    version.train_size, version.holdout_size = result.sizes.get("n_train"), result.sizes.get("n_holdout")
    # Every example counts as seen (the refit uses all; without a refit the safe
    # side is the same): realignment only trusts labels that arrive later.
    version.seen_trace_ids = example_set.trace_ids
    version.report = {"cv": result.cv, "leaderboard": result.leaderboard, "sizes": result.sizes,
                      "refit_on_all": result.refit_on_all, "notes": result.notes,
                      "holdout_spec": result.holdout_spec, "elapsed_s": result.elapsed_s}


def create_manual(session: Session, project_id: int, issue_id: int, name: str, spec: dict, *,
                  actor_id: int | None) -> EvaluatorVersion:
    """A person's own evaluator (rule, regex, judge prompt), scored on every label the same way."""
    _check_runnable(spec)
    issue = issues.get_issues(session, project_id, [issue_id])[0]
    evaluator = Evaluator(project_id=project_id, issue_id=issue.id, name=(name or "").strip()[:300] or issue.title,
                          origin="manual", created_by_id=actor_id)
    session.add(evaluator)
    session.flush()
    return _scored_manual_version(session, evaluator, spec, actor_id)


def add_manual_version(session: Session, evaluator: Evaluator, spec: dict, *,
                       actor_id: int | None) -> EvaluatorVersion:
    """An edited hand-written evaluator: a new version, scored now; the active one runs until this is activated."""
    check_hand_written(evaluator)
    _check_runnable(spec)
    return _scored_manual_version(session, evaluator, spec, actor_id)


def check_hand_written(evaluator: Evaluator) -> None:
    """Only hand-written evaluators are edited by hand."""
    if evaluator.origin != "manual":
        raise Conflict("A generated evaluator gets new versions by regenerating it.")


def _check_runnable(spec: dict) -> None:
    try:
        generation.compile_spec(spec, llm=llm_config())
    except (generation.SpecError, ValueError) as error:
        raise Unprocessable(f"That evaluator cannot run: {error}", details={"field": "spec"}) from None


def _scored_manual_version(session: Session, evaluator: Evaluator, spec: dict,
                           actor_id: int | None) -> EvaluatorVersion:
    """Scored now, or, when scoring calls an LLM once per label (a judge), left pending for the worker:
    flows enqueue it, so no web request waits on hundreds of LLM calls."""
    version = _new_version(session, evaluator, actor_id=actor_id, spec=spec, family=spec.get("family"))
    if generation.calls_llm(spec):
        return version
    return _score_manual_version(session, evaluator, version)


def _score_manual_version(session: Session, evaluator: Evaluator, version: EvaluatorVersion) -> EvaluatorVersion:
    example_set = issue_example_set(session, evaluator.project_id, evaluator.issue_id)
    if example_set.needs():
        version.status, version.error = VersionStatus.READY, "Not scored yet: " + example_set.needs()
        return version
    metrics = generation.score_spec(version.spec, examples_for(session, example_set), llm=llm_config())
    version.status, version.metrics, version.mcc = VersionStatus.READY, metrics, metrics["mcc"]
    version.mcc_ci_low, version.mcc_ci_high = (metrics.get("mcc_ci") or [None, None])[:2]
    version.tpr, version.tnr, version.holdout_size = metrics.get("tpr"), metrics.get("tnr"), metrics.get("n")
    version.finished_at = utcnow()
    session.flush()
    return version


def activate(session: Session, evaluator: Evaluator, version: EvaluatorVersion, *, actor: str,
             allow_weak: bool = False) -> None:
    """Run this version on new traffic. One no better than chance is refused unless `allow_weak`:
    it would flag traces at random and count them as occurrences of the issue."""
    if version.status != VersionStatus.READY or not version.spec:
        raise Unprocessable("Only a ready version can be activated.")
    weak = no_better_than_chance(version)
    if weak and not allow_weak:
        raise Conflict(f"v{version.number} is no better than chance: {weak}. Retire it or refine it (more labels, "
                       "then regenerate); to run it anyway, activate it with allow_weak.",
                       details={"reason": weak, "allow_weak": True})
    evaluator.active_version_id, evaluator.active = version.id, True
    evaluator.drift = None
    audit.record(session, actor=actor, action="evaluator.activated", target=f"evaluator:{evaluator.id}",
                 project_id=evaluator.project_id, data={"version": version.number, "weak": weak or None})
    session.flush()


def deactivate(session: Session, evaluator: Evaluator, *, actor: str) -> None:
    evaluator.active = False
    audit.record(session, actor=actor, action="evaluator.retired", target=f"evaluator:{evaluator.id}",
                 project_id=evaluator.project_id)
    session.flush()


def set_sampling_rate(session: Session, evaluator: Evaluator, rate: float) -> None:
    if not 0 < rate <= 1:
        raise Unprocessable("The sampling rate must be above 0% and at most 100%.", details={"field": "sampling_rate"})
    evaluator.sampling_rate = rate
    session.flush()


def no_better_than_chance(version: EvaluatorVersion | None) -> str | None:
    """Why a scored version is no better than chance (see generation.chance_reason); None when it
    is better, or has no figures yet."""
    if version is None or version.status != VersionStatus.READY or not version.metrics:
        return None
    return generation.chance_reason({"mcc": version.mcc, "mcc_ci": [version.mcc_ci_low, version.mcc_ci_high],
                                     "mcc_undefined_reason": version.metrics.get("mcc_undefined_reason")})


def fit_for_gating(version: EvaluatorVersion | None) -> bool:
    return version is not None and eval_settings().fit_for_gating(version.mcc_ci_low)


# ---------------------------------------------------------------------------
# Running


@dataclass
class Occurrence:
    issue_id: int
    trace_id: int
    trace_start: datetime


def llm_config():
    settings = eval_settings()
    if not settings.llm_configured:
        return None
    return generation.LLMConfig(base_url=settings.llm_base_url, api_key=settings.llm_api_key,
                                model=settings.llm_model, cache=RedisAnswerCache())


def _budget() -> generation.Budget:
    settings = eval_settings()
    return generation.Budget(llm_max_calls=settings.llm_max_calls, llm_max_tokens=settings.llm_max_tokens)


RUN_IN_PROGRESS = (RunStatus.QUEUED, RunStatus.RUNNING)  # then done, failed or cancelled


@lru_cache(maxsize=256)
def _compiled(version_id: int, spec_json: str):
    # Specs never change once a version is ready: compile each once per process.
    return generation.compile_spec(json.loads(spec_json), llm=llm_config())


def compiled(version: EvaluatorVersion):
    return _compiled(version.id, json.dumps(version.spec, sort_keys=True))


def sampled(evaluator: Evaluator, trace_id: int) -> bool:
    """Deterministic per (evaluator, trace): re-evaluating an updated trace decides the same way."""
    if evaluator.sampling_rate >= 1:
        return True
    digest = hashlib.sha256(f"{evaluator.id}:{trace_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < evaluator.sampling_rate


def evaluate_traces(session: Session, project_id: int, trace_ids: Sequence[int], *, run_id: int | None = None,
                    pairs: Sequence[tuple[Evaluator, EvaluatorVersion]] | None = None,
                    sample: bool = True) -> list[Occurrence]:
    """Run evaluators over traces, upsert their verdicts; return the failures found."""
    pairs = repository.running_active_versions(session, project_id) if pairs is None else pairs
    if not pairs or not trace_ids:
        return []
    views = traces_service.trace_views(session, trace_ids)
    rows, found = [], []
    for evaluator, version in pairs:
        chosen = [t for t in trace_ids if t in views and (not sample or sampled(evaluator, t))]
        if generation.calls_llm(version.spec or {}):
            chosen = chosen[:llm_budget.grant(project_id, evaluator.id, len(chosen))]
        for trace_id, verdict in zip(chosen, verdicts(version, [views[t] for t in chosen])):
            rows.append((version.id, trace_id, run_id, verdict.verdict, verdict.score, verdict.explanation))
            if verdict.verdict == "fail" and evaluator.issue_id:
                found.append(Occurrence(evaluator.issue_id, trace_id, views[trace_id]["start_time"]))
    repository.upsert_results(session, rows)
    return found


def verdicts(version: EvaluatorVersion, views: list[dict]) -> list[generation.Verdict]:
    if not views:
        return []
    examples = [generation.Example.from_dict(v) for v in views]
    try:
        return compiled(version).evaluate(examples)
    except generation.LLMError as error:
        # The judge's endpoint failed: record that, rather than pretend a verdict.
        return [generation.Verdict("error", None, f"evaluator error: {error}") for _ in examples]


def estimated_failure_rate(session: Session, version: EvaluatorVersion, window: timedelta = RATE_WINDOW) -> dict:
    """Observed fail rate of the version over the window, corrected for its errors (Rogan–Gladen)."""
    fails, total = repository.verdict_counts(session, version.id, since=utcnow() - window)
    return corrected_rate(version, fails, total)


def estimated_failure_rates(session: Session, versions: Sequence[EvaluatorVersion],
                            window: timedelta = RATE_WINDOW) -> dict[int, dict]:
    """`estimated_failure_rate` of many versions (by version id), counted in one query."""
    counts = repository.verdict_counts_for_versions(session, [v.id for v in versions], since=utcnow() - window)
    return {v.id: corrected_rate(v, *counts[v.id]) for v in versions}


def corrected_rate(version: EvaluatorVersion, fails: int, total: int) -> dict:
    """Observed fails / total corrected for the version's TPR/TNR, with its interval (needs numpy)."""
    observed = fails / total if total else None
    if observed is None or version.tpr is None or version.tnr is None:
        return {"observed": observed, "n": total, "estimate": None, "ci": None,
                "reason": "no results yet" if not total else "the version has no TPR/TNR"}
    labelled_fail, labelled_pass = label_counts(version)
    corrected = generation.rogan_gladen(observed, total, version.tpr, version.tnr,
                                        labelled_fail=labelled_fail, labelled_pass=labelled_pass)
    return {"observed": observed, "n": total, **corrected}


def label_counts(version: EvaluatorVersion) -> tuple[int, int]:
    """(labelled failures, labelled passes) that the version's TPR and TNR were measured on."""
    confusion = (version.metrics or {}).get("confusion") or {}
    return confusion.get("tp", 0) + confusion.get("fn", 0), confusion.get("tn", 0) + confusion.get("fp", 0)


# ---------------------------------------------------------------------------
# Realignment


def realign(session: Session, evaluator: Evaluator) -> dict | None:
    """Re-score the active version on labels it was never fitted on; flag a drop in MCC."""
    version = repository.get_version(session, evaluator.active_version_id) if evaluator.active_version_id else None
    if version is None or not version.spec or evaluator.issue_id is None:
        return None
    example_set = issue_example_set(session, evaluator.project_id, evaluator.issue_id)
    seen = set(version.seen_trace_ids or [])
    unseen = ExampleSet([t for t in example_set.positives if t not in seen],
                        [t for t in example_set.negatives if t not in seen])
    evaluator.realigned_at = utcnow()
    if len(unseen.trace_ids) < MIN_REALIGN_EXAMPLES or not unseen.positives or not unseen.negatives:
        evaluator.drift = {"status": "waiting", "n": len(unseen.trace_ids),
                           "reason": f"needs at least {MIN_REALIGN_EXAMPLES} new labels of both kinds"}
        return evaluator.drift
    metrics = generation.score_spec(version.spec, examples_for(session, unseen), llm=llm_config())
    # Both labels are present, so an undefined MCC means one-class predictions: no skill.
    now = metrics["mcc"] if metrics["mcc"] is not None else 0.0
    drop = version.mcc - now if version.mcc is not None else None
    evaluator.drift = {"status": "drift" if drop is not None and drop > DRIFT_DROP else "ok",
                       "mcc_now": metrics["mcc"], "mcc_ci": metrics.get("mcc_ci"), "mcc_at_generation": version.mcc,
                       "drop": drop, "n": metrics.get("n"), "at": utcnow().isoformat(),
                       "reason": metrics.get("mcc_undefined_reason")}
    session.flush()
    return evaluator.drift


# ---------------------------------------------------------------------------
# Backfills


def start_backfill(session: Session, project_id: int, evaluator_ids: Sequence[int], filters: dict):
    """A run over past traces (a time range or any explorer filter) for these evaluators."""
    from app.evals.models import EvalRun
    from app.traces import repository as traces_repository

    stored = annotations.stored_filter(filters)
    versions = []
    for evaluator_id in sorted(set(evaluator_ids)):
        evaluator = get_evaluator(session, project_id, evaluator_id)
        if evaluator.active_version_id is None:
            raise Unprocessable(f"Evaluator {evaluator.name!r} has no active version to run.")
        versions.append(evaluator.active_version_id)
    if not versions:
        raise Unprocessable("Choose at least one evaluator.")
    # Counted once at the start, so progress can be shown as done / total.
    total = repository.count_rows(session, traces_repository.matching_trace_ids(
        project_id, annotations.trace_filter(stored)))
    run = EvalRun(project_id=project_id, kind="backfill", evaluator_version_ids=versions, filter=stored, total=total)
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, project_id: int, run_id: int, *, for_update: bool = False):
    from app.evals.models import EvalRun

    run = session.get(EvalRun, run_id, with_for_update=for_update)
    if run is None or run.project_id != project_id:
        raise NotFound("No such run in this project.")
    return run


def cancel_backfill(session: Session, project_id: int, run_id: int):
    """Stop a backfill after the batch in hand (the worker holds the row while it works on one):
    the verdicts already stored stay, no further batch starts."""
    run = get_run(session, project_id, run_id, for_update=True)
    if run.kind != "backfill" or run.status not in RUN_IN_PROGRESS:
        raise Conflict(f"Run #{run.id} is {run.kind}, {run.status}: "
                       "only a queued or running backfill can be cancelled.", details={"status": run.status})
    run.status, run.finished_at = RunStatus.CANCELLED, utcnow()
    return run


def backfill_batch(session: Session, run_id: int, batch_size: int) -> list[Occurrence] | None:
    """Evaluate the next batch of a backfill; None when the run is finished (or not ours)."""
    from app.evals.models import EvalRun
    from app.traces import repository as traces_repository

    run = session.get(EvalRun, run_id, with_for_update={"skip_locked": True})
    if run is None or run.status not in RUN_IN_PROGRESS:
        return None
    query = traces_repository.matching_trace_ids(run.project_id, annotations.trace_filter(run.filter))
    ids = list(session.scalars(query.where(traces_repository.Trace.id > run.cursor_trace_id)
                               .order_by(None).order_by(traces_repository.Trace.id).limit(batch_size)))
    run.started_at = run.started_at or utcnow()
    if not ids:
        run.status, run.finished_at = RunStatus.DONE, utcnow()
        return None
    versions = repository.versions_by_id(session, run.evaluator_version_ids)
    pairs = [(session.get(Evaluator, v.evaluator_id), v) for v in versions.values() if v.spec]
    found = evaluate_traces(session, run.project_id, ids, run_id=run.id, pairs=pairs, sample=False)
    run.status, run.cursor_trace_id, run.done = RunStatus.RUNNING, max(ids), run.done + len(ids)
    session.flush()
    return found
