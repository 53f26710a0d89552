"""Rules of the CI gate: which evaluators may decide, receiving outputs, running, the verdict.

Never commits. A run is fixed when it starts: the evaluators that run, those left out
(and why) and the thresholds are written into it, so the report stays the audit trail
of what decided, whatever changes later.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from app.annotations import service as annotations
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.settings import eval_settings, gate_settings
from app.evals import repository as evals_repository
from app.evals import service as evals
from app.evals.models import Evaluator, EvaluatorVersion
from app.gate import repository
from app.gate.models import GateRun, GateSetting
from app.gate.schemas import GateRunCreate, GateThresholds
from app.issues.models import Issue
from app.traces import repository as traces_repository
from app.traces import service as traces_service

# TPR and TNR measured on fewer held-out labels than this are too loose to correct a rate with.
MIN_LABELS_EACH = 10
MAX_LINE_BYTES = 1_000_000
IN_PROGRESS = ("receiving", "queued", "running")


# ---------------------------------------------------------------------------
# Thresholds


def thresholds(session: Session, project_id: int) -> dict:
    """The project's thresholds (its own, else the defaults) and the MCC bar in force."""
    setting = repository.get_setting(session, project_id)
    defaults = gate_settings()
    return {"max_increase": setting.max_increase if setting else defaults.gate_max_increase,
            "min_sample": setting.min_sample if setting else defaults.gate_min_sample,
            "gate_min_mcc": eval_settings().gate_min_mcc}


def set_thresholds(session: Session, project_id: int, values: GateThresholds) -> dict:
    setting = repository.get_setting(session, project_id)
    if setting is None:
        setting = GateSetting(project_id=project_id)
        session.add(setting)
    setting.max_increase, setting.min_sample = values.max_increase, values.min_sample
    session.flush()
    return thresholds(session, project_id)


# ---------------------------------------------------------------------------
# Which evaluators may decide


def exclusion_reason(evaluator: Evaluator, version: EvaluatorVersion) -> str | None:
    """Why this active evaluator may not gate a release, in words; None when it may."""
    if evaluator.issue_id is None:
        return "not tied to an issue"
    chance = _chance_reason(version)
    if chance:
        return f"no better than chance: {chance}"
    if version.tpr is None or version.tnr is None:
        return "no held-out TPR/TNR to correct its rate with"
    labelled_fail, labelled_pass = evals.label_counts(version)
    if min(labelled_fail, labelled_pass) < MIN_LABELS_EACH:
        return (f"too few labels: TPR/TNR measured on {labelled_fail} failures and {labelled_pass} passes "
                f"(needs {MIN_LABELS_EACH} of each)")
    if not evals.fit_for_gating(version):
        low = "undefined" if version.mcc_ci_low is None else f"{version.mcc_ci_low:.2f}"
        return f"MCC CI lower bound {low} below SEXTANT_GATE_MIN_MCC {eval_settings().gate_min_mcc:.2f}"
    drift = evaluator.drift or {}
    if drift.get("status") == "drift":
        return (f"drift: MCC fell from {drift.get('mcc_at_generation') or 0:.2f} to "
                f"{drift.get('mcc_now') or 0:.2f} on labels it never saw")
    return None


def _chance_reason(version: EvaluatorVersion) -> str | None:
    """The evaluators' one rule (MCC undefined or its interval reaching 0), plus the one the
    correction needs: TPR + TNR above 1."""
    reason = evals.no_better_than_chance(version)
    if reason is None and version.tpr is not None and version.tnr is not None and version.tpr + version.tnr <= 1:
        reason = f"TPR {version.tpr:.2f} + TNR {version.tnr:.2f} ≤ 1"
    return reason


def gating_line_up(session: Session, project_id: int) -> tuple[list[dict], list[dict]]:
    """(evaluators that run, evaluators left out), each described for the report."""
    pairs = evals_repository.running_active_versions(session, project_id)
    titles = _issue_titles(session, [e.issue_id for e, _ in pairs if e.issue_id])
    running, left_out = [], []
    for evaluator, version in sorted(pairs, key=lambda pair: pair[0].id):
        labelled_fail, labelled_pass = evals.label_counts(version)
        entry = {"evaluator_id": evaluator.id, "name": evaluator.name, "version_id": version.id,
                 "version": version.number, "issue_id": evaluator.issue_id,
                 "issue": titles.get(evaluator.issue_id, ""), "mcc": version.mcc,
                 "mcc_ci": [version.mcc_ci_low, version.mcc_ci_high], "tpr": version.tpr, "tnr": version.tnr,
                 "labelled_fail": labelled_fail, "labelled_pass": labelled_pass}
        reason = exclusion_reason(evaluator, version)
        (left_out if reason else running).append({**entry, "reason": reason} if reason else entry)
    return running, left_out


def _issue_titles(session: Session, issue_ids: Sequence[int]) -> dict[int, str]:
    if not issue_ids:
        return {}
    return {i.id: i.title for i in session.query(Issue).filter(Issue.id.in_(list(issue_ids)))}


# ---------------------------------------------------------------------------
# Runs


def create_run(session: Session, project_id: int, body: GateRunCreate, *, trigger: str) -> GateRun:
    traces_filter = {}
    if body.source == "traces":
        traces_filter = annotations.stored_filter({**body.traces_filter.stored(), "release": body.release})
    elif body.traces_filter.filtered:
        raise Unprocessable("traces_filter applies to source 'traces' only.", details={"field": "traces_filter"})
    run = GateRun(project_id=project_id, release=body.release, commit=body.commit,
                  trigger=" · ".join(t for t in (trigger, body.trigger.strip()) if t)[:500], source=body.source,
                  traces_filter=traces_filter, baseline=body.baseline.model_dump(exclude_none=True),
                  thresholds=thresholds(session, project_id),
                  status="queued" if body.source == "traces" else "receiving")
    session.add(run)
    session.flush()
    if body.source == "traces":
        run.total = evals_repository.count_rows(session, _candidate_traces(run))
    return run


def get_run(session: Session, project_id: int, run_id: int, *, for_update: bool = False) -> GateRun:
    run = repository.get_run(session, run_id, for_update=for_update)
    if run is None or run.project_id != project_id:
        raise NotFound("No such gate run in this project.")
    return run


def parse_outputs(body: bytes) -> list[dict]:
    """Lines of `{"id", "input", "output", "messages"?, "metadata"?}` (what `sextant evals apply` reads).
    Any bad line refuses the whole chunk, so nothing is half-stored."""
    rows, problems = [], []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        problem = None
        try:
            row = json.loads(line) if len(line) <= MAX_LINE_BYTES else None
        except ValueError as error:
            problem = f"not JSON ({error})"
        else:
            if row is None:
                problem = f"longer than {MAX_LINE_BYTES} bytes"
            elif not isinstance(row, dict):
                problem = "not a JSON object"
            elif "id" not in row or "output" not in row:
                problem = "needs 'id' and 'output'"
            else:
                rows.append(row)
        if problem:
            problems.append({"line": number, "problem": problem})
    if problems:
        raise Unprocessable(f"{len(problems)} line(s) of the outputs are not usable; nothing was stored.",
                            details={"lines": problems[:20]})
    return rows


def add_outputs(session: Session, run: GateRun, rows: list[dict]) -> GateRun:
    """Append a chunk of outputs to a file run still receiving (the caller holds the row lock)."""
    if run.source != "file" or run.status != "receiving":
        raise Conflict(f"Gate run #{run.id} is {run.status}: outputs can only be added before it starts.",
                       details={"status": run.status})
    repository.add_outputs(session, run.id, run.total + 1, rows)
    run.total += len(rows)
    return run


def start(session: Session, run: GateRun) -> GateRun:
    if run.status != "receiving":
        raise Conflict(f"Gate run #{run.id} is already {run.status}.", details={"status": run.status})
    if run.total == 0:
        raise Unprocessable("The outputs file is empty: there is nothing to gate.", details={"field": "outputs"})
    run.status = "queued"
    return run


def _candidate_traces(run: GateRun):
    return traces_repository.matching_trace_ids(run.project_id, annotations.trace_filter(run.traces_filter))


# ---------------------------------------------------------------------------
# The worker's part


def run_batch(session: Session, run_id: int, batch_size: int) -> bool:
    """Evaluate the next batch of a run, or finish it; True while more remains."""
    run = repository.get_run(session, run_id, for_update={"skip_locked": True})
    if run is None or run.status not in ("queued", "running"):
        return False
    if run.status == "queued":
        _begin(session, run)
        if run.status != "running":
            return False
    ids, examples = _next_examples(session, run, batch_size)
    if not examples:
        _finish(session, run)
        return False
    counts = dict(run.report["counts"])
    for entry in run.report["evaluators"]:
        version = evals_repository.get_version(session, entry["version_id"])
        verdicts = [v.verdict for v in evals.verdicts(version, examples)]
        fails, n, errors = counts[str(version.id)]
        counts[str(version.id)] = [fails + verdicts.count("fail"), n + len(verdicts) - verdicts.count("error"),
                                   errors + verdicts.count("error")]
    run.report = {**run.report, "counts": counts}
    run.cursor, run.done = max(ids), run.done + len(examples)
    session.flush()
    return True


def _begin(session: Session, run: GateRun) -> None:
    running, left_out = gating_line_up(session, run.project_id)
    run.started_at, run.status = utcnow(), "running"
    run.report = {"evaluators": running, "excluded": left_out,
                  "counts": {str(e["version_id"]): [0, 0, 0] for e in running}}
    if not running:
        run.status, run.verdict, run.finished_at = "done", "error", utcnow()
        run.error = "Nothing fit to gate: no active evaluator is fit for gating" + (
            " (see those left out)." if left_out else ".")
        repository.drop_outputs(session, run.id)


def _next_examples(session: Session, run: GateRun, batch_size: int) -> tuple[list[int], list[dict]]:
    if run.source == "file":
        rows = repository.outputs_after(session, run.id, run.cursor, batch_size)
        return [seq for seq, _ in rows], [data for _, data in rows]
    query = _candidate_traces(run).where(traces_repository.Trace.id > run.cursor)
    ids = list(session.scalars(query.order_by(None).order_by(traces_repository.Trace.id).limit(batch_size)))
    views = traces_service.trace_views(session, ids)
    return ids, [views[i] for i in ids if i in views]


def baseline_counts(session: Session, run: GateRun, version_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Stored verdicts of the same versions on the baseline's traces (never the candidate release's)."""
    baseline = run.baseline
    if baseline["kind"] == "release":
        return repository.verdict_counts(session, version_ids, run.project_id, release=baseline["release"])
    return repository.verdict_counts(session, version_ids, run.project_id, environment="production",
                                     since=run.created_at - timedelta(days=baseline.get("days", 7)),
                                     exclude_release=run.release)


def _finish(session: Session, run: GateRun) -> None:
    from app.gate import comparison  # numpy: worker only

    limits = run.thresholds
    baseline = baseline_counts(session, run, [e["version_id"] for e in run.report["evaluators"]])
    issues = []
    for entry in run.report["evaluators"]:
        fails, n, errors = run.report["counts"][str(entry["version_id"])]
        base_fails, base_n = baseline[entry["version_id"]]
        row = {"evaluator_id": entry["evaluator_id"], "issue_id": entry["issue_id"], "issue": entry["issue"],
               "errors": errors}
        if min(n, base_n) < limits["min_sample"]:
            row.update(decision="undecided", candidate={"fails": fails, "n": n}, baseline={"fails": base_fails,
                       "n": base_n}, reason=f"too few evaluated outputs: candidate {n}, baseline {base_n} "
                                            f"(minimum {limits['min_sample']} each)")
        else:
            row.update(comparison.compare((fails, n), (base_fails, base_n), tpr=entry["tpr"], tnr=entry["tnr"],
                                          labelled_fail=entry["labelled_fail"],
                                          labelled_pass=entry["labelled_pass"],
                                          max_increase=limits["max_increase"]))
        issues.append(row)
    run.report = {**run.report, "issues": issues}
    run.verdict, run.error = overall_verdict(issues)
    run.status, run.finished_at = "done", utcnow()
    repository.drop_outputs(session, run.id)


def overall_verdict(issues: list[dict]) -> tuple[str, str | None]:
    """fail if any issue regressed; pass if at least one could decide and none did; else error."""
    decisions = [row["decision"] for row in issues]
    if "regression" in decisions:
        return "fail", None
    if "ok" in decisions:
        return "pass", None
    return "error", "No issue could decide: " + "; ".join(
        f"{row['issue']}: {row.get('reason') or row['decision']}" for row in issues)


def fail_run(session: Session, run_id: int, message: str) -> None:
    run = repository.get_run(session, run_id)
    if run is not None and run.status in IN_PROGRESS:
        run.status, run.verdict, run.error, run.finished_at = "failed", "error", message[:2000], utcnow()
        repository.drop_outputs(session, run.id)
