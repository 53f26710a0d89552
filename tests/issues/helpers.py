"""Building issue data through the real services: traces at chosen times, labels, evaluators."""

import itertools
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app import loop
from app.annotations.service import Judgement
from app.evals.models import EvalResult, Evaluator, EvaluatorVersion
from app.issues.models import Issue
from app.traces import service as traces_service
from app.traces.models import Trace
from app.traces.schemas import TraceCreate

_ids = itertools.count(1)


def traces_at(db: Session, project, times: list[datetime], output: str = "an answer") -> list[Trace]:
    """One trace starting at each of `times` (ingested like a REST batch), in that order."""
    batch = [TraceCreate(id=f"issue-test-{next(_ids)}", input="a question", output=output, start_time=t,
                         end_time=t + timedelta(seconds=2)) for t in times]
    spans, keys = traces_service.records_from_rest(batch)
    outcome = traces_service.ingest(db, project.id, spans, keys)
    by_external_id = {t.external_id: t for t in db.query(Trace).filter(Trace.id.in_(outcome.trace_ids))}
    return [by_external_id[item.id] for item in batch]


def label(db: Session, project, trace, verdict: str, feedback: str = "", issue_ids=(), annotator: str = "import:qa"):
    return loop.record_annotation(
        db, project.id, trace.id, Judgement(verdict, feedback, issue_ids=list(issue_ids)),
        annotator=annotator, author=None)


def evaluator(db: Session, project, issue, *, mcc: float | None = 0.8, ci: tuple = (0.6, 0.9), active: bool = True,
              name: str = "refund detector") -> tuple[Evaluator, EvaluatorVersion]:
    found = Evaluator(project_id=project.id, issue_id=issue.id, name=name, active=active)
    db.add(found)
    db.flush()
    version = EvaluatorVersion(evaluator_id=found.id, number=1, status="ready", mcc=mcc, mcc_ci_low=ci[0],
                               mcc_ci_high=ci[1])
    db.add(version)
    db.flush()
    found.active_version_id = version.id
    db.flush()
    return found, version


def results(db: Session, version: EvaluatorVersion, traces, verdict: str = "fail") -> None:
    db.add_all([EvalResult(evaluator_version_id=version.id, trace_id=t.id, trace_start=t.start_time,
                           verdict=verdict) for t in traces])
    db.flush()


def put_in_state(db: Session, issue: Issue, state: str, resolved_at: datetime | None = None) -> Issue:
    """Place an issue in a state directly (test set-up, not a transition)."""
    issue.state = state
    issue.resolved_at = resolved_at or (datetime.now().astimezone() if state == "resolved" else None)
    db.flush()
    return issue
