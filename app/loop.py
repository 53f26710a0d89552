"""The loop: what an event in one domain sets in motion in the others, said in one place.

Each domain's flows call their own service and enqueue their own jobs; a reaction that
crosses domains is written here, and routes and job bodies call it:

    a trace arrived      -> indexed for search; offered to live queues; evaluated online
    a judgement recorded -> its failure modes found or created; then "labels changed"
    labels changed       -> failures are occurrences of their issues; evaluators realigned
    failures detected    -> an evaluator's fails are occurrences of their issues
                            (first/last seen, regressions; alerts follow from the issues)

Dependencies run one way, upstream to downstream: traces <- annotations <- issues <- evals
<- gate, dashboard <- this module <- routes, job bodies, the CLI. The contracts in
`.importlinter` (checked by tests/core/test_imports.py) keep it so.
"""

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotations import flows as annotations_flows
from app.annotations import service as annotations
from app.annotations.agreement import FAIL
from app.annotations.models import Adjudication, Annotation, AnnotationQueue
from app.annotations.service import Judgement
from app.evals import flows as evals_flows
from app.evals.service import Occurrence
from app.issues import flows as issues_flows
from app.issues import service as issues
from app.issues import suggestions
from app.issues.models import Issue
from app.traces import flows as traces_flows
from app.traces.repository import TraceKey
from app.traces.semconv import SpanRecord
from app.traces.service import IngestOutcome

# ---------------------------------------------------------------------------
# A trace arrived


def ingest(session: Session, project_id: int, spans: Sequence[SpanRecord],
           explicit_traces: Iterable[TraceKey] = ()) -> IngestOutcome:
    outcome = traces_flows.ingest(session, project_id, spans, explicit_traces)
    traces_arrived(session, project_id, outcome.trace_ids)
    return outcome


def traces_arrived(session: Session, project_id: int, trace_ids: Sequence[int]) -> None:
    """New or updated traces (already queued for search indexing by the traces flow): live
    queues sample them, running evaluators judge them."""
    if not trace_ids:
        return
    annotations_flows.offer_to_live_queues(session, project_id, trace_ids)
    evals_flows.traces_ingested(session, project_id, trace_ids)


# ---------------------------------------------------------------------------
# A judgement recorded; labels changed


def record_annotation(session: Session, project_id: int, trace_id: int, judgement: Judgement, *,
                      annotator: str, author: User | None, queue: AnnotationQueue | None = None) -> Annotation:
    """Store a judgement, naming (or creating) its failure modes; then its label reaches its issues."""
    annotations.check_judgement(session, project_id, trace_id, judgement)
    issue_ids = issues.failure_modes(session, project_id, judgement.issue_ids, judgement.new_issue_titles,
                                     author=author) if judgement.verdict == FAIL else []
    annotation = annotations.annotate(session, project_id, trace_id, judgement, issue_ids, annotator=annotator,
                                      author=author, queue=queue)
    labels_changed(session, project_id, [trace_id], source="human annotation")
    return annotation


def adjudicate(session: Session, project_id: int, trace_id: int, verdict: str, issue_ids: Sequence[int],
               note: str, adjudicator: User) -> Adjudication:
    """An admin settles a disputed trace: the settled label reaches its issues."""
    ids = [i.id for i in issues.get_issues(session, project_id, issue_ids)] if verdict == FAIL else []
    found = annotations.adjudicate(session, project_id, trace_id, verdict, ids, note, adjudicator)
    labels_changed(session, project_id, [trace_id], source="adjudication")
    return found


def labels_changed(session: Session, project_id: int, trace_ids: Sequence[int], *, source: str) -> None:
    """Failures in the traces' human labels are occurrences of their issues; the issues'
    evaluators are re-scored against the new labels."""
    issues_flows.label_occurrences(session, project_id, trace_ids, source=source)
    evals_flows.labels_changed(session, project_id)


def accept_suggestion(session: Session, project_id: int, suggestion_id: int, *, actor: str,
                      title: str | None = None) -> Issue:
    """A proposed group of failures joins its issue: their labels changed."""
    issue, linked = suggestions.accept_suggestion(session, project_id, suggestion_id, actor=actor, title=title)
    labels_changed(session, project_id, linked, source="suggestion accepted")
    suggestions.request_suggestions(session, project_id)
    return issue


# ---------------------------------------------------------------------------
# Failures detected by evaluators


def failures_detected(session: Session, project_id: int, occurrences: Sequence[Occurrence]) -> None:
    """Evaluator-detected failures update their issues (first/last seen, regressions, alerts).
    Call it in the transaction that stores the results."""
    if occurrences:
        issues_flows.evaluator_occurrences(session, project_id, [(o.issue_id, o.trace_start) for o in occurrences])
