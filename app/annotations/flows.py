"""Orchestration around annotations: what a new judgement sets in motion."""

from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotations import service
from app.annotations.models import Annotation, AnnotationQueue
from app.annotations.service import Judgement
from app.evals import flows as evals_flows
from app.issues import service as issues
from app.traces import repository as traces_repository


def record_annotation(session: Session, project_id: int, trace_id: int, judgement: Judgement, *,
                      annotator: str, author: User | None, queue: AnnotationQueue | None = None) -> Annotation:
    """Store a judgement, then let the trace's (possibly new) label reach its issues."""
    annotation = service.annotate(session, project_id, trace_id, judgement, annotator=annotator,
                                  author=author, queue=queue)
    label_changed(session, project_id, [trace_id], source="human annotation")
    return annotation


def label_changed(session: Session, project_id: int, trace_ids: Sequence[int], *, source: str) -> None:
    """Failures in the traces' human labels are occurrences of their issues; the
    issues' evaluators are re-scored against the new labels."""
    labels = service.labels_for_traces(session, trace_ids)
    for trace_id, label in labels.items():
        if label.verdict != "fail" or not label.issue_ids:
            continue
        trace = traces_repository.get_trace(session, project_id, trace_id)
        for issue in issues.get_issues(session, project_id, label.issue_ids):
            issues.record_occurrence(session, issue, trace.start_time, source=source)
    evals_flows.labels_changed(session, project_id)
