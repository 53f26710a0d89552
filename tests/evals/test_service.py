"""Evaluators through the database: examples from labels, generation, running, figures."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import loop
from app.annotations.service import Judgement
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, Unprocessable
from app.evals import service
from app.evals.models import EvalResult
from app.issues import service as issues


def labelled_project(db, factory, n_fail=20, n_pass=20):
    """Traces whose failing outputs promise an invented refund window."""
    project = factory.project()
    issue = issues.create_issue(db, project.id, "Invents a refund window", actor="test")
    failing = factory.traces(project, n_fail)
    passing = factory.traces(project, n_pass)
    for i, trace in enumerate(failing):
        trace.output = f"Sure! You can get a refund within {30 + i} days, no questions asked."
    for i, trace in enumerate(passing):
        trace.output = f"Refunds follow the policy on our site; ticket {i} is with our billing team."
    db.flush()
    for trace in failing:
        loop.record_annotation(db, project.id, trace.id, Judgement(
            "fail", "promises a refund window we never offered", issue_ids=[issue.id]),
            annotator="import:qa", author=None)
    for trace in passing:
        loop.record_annotation(db, project.id, trace.id, Judgement("pass"), annotator="import:qa",
                                           author=None)
    return project, issue, failing, passing


def test_example_set_counts_and_says_what_is_missing(db, factory):
    project, issue, failing, passing = labelled_project(db, factory, n_fail=5, n_pass=9)
    example_set = service.issue_example_set(db, project.id, issue.id)
    assert (len(example_set.positives), len(example_set.negatives)) == (5, 9)
    assert example_set.needs() == "Needs 3 more failed examples of this issue."
    with pytest.raises(Unprocessable, match="3 more failed examples"):
        service.request_generation(db, project.id, issue.id, actor_id=None)
    assert service.ExampleSet([1] * 7, [2] * 8).needs() == "Needs 1 more failed example of this issue."


def test_generation_stores_honest_figures_and_the_version_runs(db, factory):
    project, issue, failing, passing = labelled_project(db, factory)
    version = service.request_generation(db, project.id, issue.id, actor_id=None)
    assert version.status == "pending" and version.number == 1
    with pytest.raises(Conflict, match="already being generated"):
        service.request_generation(db, project.id, issue.id, actor_id=None)
    service.run_generation(db, version.id)
    assert version.status == "ready", version.error
    assert version.spec["family"] and version.mcc is not None
    assert version.mcc_ci_low <= version.mcc <= version.mcc_ci_high
    assert version.holdout_size + version.train_size == 40
    assert set(version.seen_trace_ids) == {t.id for t in failing + passing}
    assert version.report["refit_on_all"] is True

    evaluator = db.get(service.Evaluator, version.evaluator_id)
    service.activate(db, evaluator, version, actor="test")
    fresh = factory.traces(project, 2, start_time=utcnow() - timedelta(hours=1))
    fresh[0].output = "Good news: a refund within 45 days is guaranteed."
    fresh[1].output = "Refunds follow the policy on our site."
    db.flush()
    found = service.evaluate_traces(db, project.id, [t.id for t in fresh])
    verdicts = dict(db.execute(select(EvalResult.trace_id, EvalResult.verdict)).all())
    assert verdicts == {fresh[0].id: "fail", fresh[1].id: "pass"}
    assert [(o.issue_id, o.trace_id) for o in found] == [(issue.id, fresh[0].id)]
    service.evaluate_traces(db, project.id, [t.id for t in fresh])  # again: upserted, not duplicated
    assert db.scalar(select(func.count()).select_from(EvalResult)) == 2
    rate = service.estimated_failure_rate(db, version)
    assert rate["n"] == 2
    confusion = version.metrics["confusion"]  # the held-out labels behind TPR and TNR
    assert f"TPR ({confusion['tp'] + confusion['fn']} labelled failures)" in rate["ci_method"]


def test_a_hand_written_rule_is_scored_the_same_way(db, factory):
    project, issue, *_ = labelled_project(db, factory)
    spec = {"format": "sextant.evaluator", "version": 1, "family": "rule", "combine": "any",
            "clauses": [{"field": "output", "kind": "regex", "pattern": r"refund within \d+ days"}]}
    version = service.create_manual(db, project.id, issue.id, "Refund window regex", spec, actor_id=None)
    assert version.status == "ready" and version.mcc == pytest.approx(1.0)
    assert version.metrics["n"] == 40


def test_unrunnable_manual_specs_are_refused(db, factory):
    project, issue, *_ = labelled_project(db, factory, n_fail=1, n_pass=1)
    with pytest.raises(Unprocessable, match="cannot run"):
        service.create_manual(db, project.id, issue.id, "Broken", {"family": "nonsense"}, actor_id=None)


def active_generated_evaluator(db, factory):
    """A labelled project whose issue has a generated evaluator, active."""
    project, issue, *_ = labelled_project(db, factory)
    version = service.request_generation(db, project.id, issue.id, actor_id=None)
    service.run_generation(db, version.id)
    evaluator = db.get(service.Evaluator, version.evaluator_id)
    service.activate(db, evaluator, version, actor="test")
    return project, issue, evaluator


def test_backfill_walks_past_traces_in_batches(db, factory):
    project, issue, evaluator = active_generated_evaluator(db, factory)
    run = service.start_backfill(db, project.id, [evaluator.id], {})
    batches = 0
    while service.backfill_batch(db, run.id, 15) is not None:
        batches += 1
    assert batches == 3 and run.status == "done" and run.done == 40
    assert db.scalar(select(func.count()).select_from(EvalResult)) == 40


def test_a_cancelled_backfill_keeps_its_verdicts_and_runs_no_further_batch(db, factory):
    project, issue, evaluator = active_generated_evaluator(db, factory)
    run = service.start_backfill(db, project.id, [evaluator.id], {})
    assert service.backfill_batch(db, run.id, 15) is not None
    cancelled = service.cancel_backfill(db, project.id, run.id)
    assert (cancelled.status, cancelled.done) == ("cancelled", 15) and cancelled.finished_at is not None
    assert service.backfill_batch(db, run.id, 15) is None
    assert db.scalar(select(func.count()).select_from(EvalResult)) == 15
    with pytest.raises(Conflict, match="only a queued or running backfill can be cancelled"):
        service.cancel_backfill(db, project.id, run.id)
    with pytest.raises(NotFound):
        service.cancel_backfill(db, factory.project().id, run.id)


def test_realignment_flags_drift_on_labels_the_version_never_saw(db, factory):
    project, issue, evaluator = active_generated_evaluator(db, factory)
    assert service.realign(db, evaluator)["status"] == "waiting"
    # The failure mode changes its wording: new failures no longer mention a window.
    drifted = factory.traces(project, 12)
    for i, trace in enumerate(drifted):
        trace.output = f"Ticket {i}: we will credit your account in full immediately." if i % 2 else \
            f"Refunds follow the policy on our site; ticket {i} is noted."
    db.flush()
    for i, trace in enumerate(drifted):
        judgement = Judgement("fail", "promises a credit we never offered", issue_ids=[issue.id]) if i % 2 \
            else Judgement("pass")
        loop.record_annotation(db, project.id, trace.id, judgement, annotator="import:qa", author=None)
    drift = service.realign(db, evaluator)
    assert drift["n"] == 12 and drift["status"] == "drift" and drift["drop"] > 0.1
