"""Export reads: one SELECT per kind, read through a server-side cursor in batches.

`yield_per` makes psycopg use a named (server-side) cursor, so the rows of a million-span
export are never all in memory at once. Labels and verdicts are real columns: the trace's
human label comes from the `trace_label` view (the one label rule in SQL).
"""

from collections.abc import Iterator, Sequence

from sqlalchemy import Select, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from app.annotations.models import Annotation, AnnotationIssue
from app.evals.models import EvalResult, Evaluator, EvaluatorVersion
from app.issues.models import Issue
from app.traces.filters import TraceFilter
from app.traces.models import Span, Trace
from app.traces.repository import matching_trace_ids

BATCH = 2000

trace_label = table("trace_label", column("trace_id"), column("verdict"), column("adjudicated"))

TRACE_COLUMNS = (
    Trace.id, Trace.external_id, Trace.name, Trace.session_id, Trace.user_id, Trace.release, Trace.environment,
    Trace.tags, Trace.models, Trace.metadata_.label("metadata"), Trace.input, Trace.output, Trace.start_time,
    Trace.end_time, Trace.duration_ms, Trace.span_count, Trace.tokens_in, Trace.tokens_out, Trace.cost,
    Trace.has_error, trace_label.c.verdict.label("human_label"),
    func.coalesce(trace_label.c.adjudicated, False).label("adjudicated"))

SPAN_COLUMNS = (
    Span.id, Trace.external_id.label("trace_external_id"), Span.external_id, Span.parent_external_id, Span.name,
    Span.kind, Span.status, Span.error, Span.model, Span.provider, Span.operation, Span.tool_name, Span.input,
    Span.output, Span.input_messages, Span.output_messages, Span.system, Span.tokens_in, Span.tokens_out,
    Span.tokens_cache_read, Span.tokens_cache_write, Span.tokens_reasoning, Span.cost, Span.start_time,
    Span.end_time, Span.duration_ms, Span.attributes, Span.metadata_.label("metadata"))

_ISSUE_IDS = (select(func.coalesce(func.array_agg(AnnotationIssue.issue_id), literal_column("'{}'::bigint[]")))
              .where(AnnotationIssue.annotation_id == Annotation.id).scalar_subquery())
ANNOTATION_COLUMNS = (
    Annotation.id, Trace.external_id.label("trace_external_id"), Annotation.annotator, Annotation.verdict,
    _ISSUE_IDS.label("issue_ids"), Annotation.feedback, Annotation.corrected_output, Annotation.queue_id,
    Annotation.seconds_spent, Annotation.created_at, Annotation.updated_at,
    trace_label.c.verdict.label("human_label"))

EVAL_RESULT_COLUMNS = (
    EvalResult.id, Trace.external_id.label("trace_external_id"), Evaluator.id.label("evaluator_id"),
    Evaluator.name.label("evaluator"), EvaluatorVersion.number.label("version"), EvalResult.verdict,
    EvalResult.score, EvalResult.explanation, EvalResult.run_id, EvalResult.created_at,
    trace_label.c.verdict.label("human_label"))

ISSUE_COLUMNS = (Issue.id, Issue.title, Issue.description, Issue.state, Issue.first_seen, Issue.last_seen,
                 Issue.resolved_at, Issue.merged_into_id, Issue.created_at, Issue.updated_at)



def _of_traces(stmt: Select, project_id: int, filters: TraceFilter) -> Select:
    """Limit a statement joined to `trace` to the project's traces matching the filter."""
    return stmt.where(Trace.project_id == project_id,
                      Trace.id.in_(matching_trace_ids(project_id, filters).order_by(None)))


def traces(project_id: int, filters: TraceFilter) -> Select:
    stmt = select(*TRACE_COLUMNS).outerjoin(trace_label, trace_label.c.trace_id == Trace.id)
    return _of_traces(stmt, project_id, filters).order_by(Trace.start_time, Trace.id)


def spans(project_id: int, filters: TraceFilter) -> Select:
    stmt = select(*SPAN_COLUMNS).join(Trace, Trace.id == Span.trace_id)
    return _of_traces(stmt, project_id, filters).order_by(Span.trace_id, Span.start_time, Span.id)


def annotations(project_id: int, filters: TraceFilter) -> Select:
    stmt = (select(*ANNOTATION_COLUMNS).join(Trace, Trace.id == Annotation.trace_id)
            .outerjoin(trace_label, trace_label.c.trace_id == Trace.id))
    return _of_traces(stmt, project_id, filters).order_by(Annotation.id)


def eval_results(project_id: int, filters: TraceFilter) -> Select:
    stmt = (select(*EVAL_RESULT_COLUMNS).join(Trace, Trace.id == EvalResult.trace_id)
            .join(EvaluatorVersion, EvaluatorVersion.id == EvalResult.evaluator_version_id)
            .join(Evaluator, Evaluator.id == EvaluatorVersion.evaluator_id)
            .outerjoin(trace_label, trace_label.c.trace_id == Trace.id))
    return _of_traces(stmt, project_id, filters).order_by(EvalResult.id)


def issues(project_id: int, filters: TraceFilter) -> Select:
    # Issues are not traces: the trace filter does not apply to them.
    return select(*ISSUE_COLUMNS).where(Issue.project_id == project_id).order_by(Issue.id)


def spans_of_traces(session: Session, trace_ids: Sequence[int]) -> dict[int, list[dict]]:
    """The spans of a batch of traces, in one query, keyed by trace id."""
    rows = session.execute(select(Span.trace_id, *SPAN_COLUMNS[2:]).where(Span.trace_id.in_(list(trace_ids)))
                           .order_by(Span.trace_id, Span.start_time, Span.id))
    found: dict[int, list[dict]] = {}
    for row in rows.mappings():
        found.setdefault(row["trace_id"], []).append({k: v for k, v in row.items() if k != "trace_id"})
    return found


def stream(session: Session, stmt: Select) -> Iterator[list[dict]]:
    """The statement's rows as dicts, a batch at a time, through a server-side cursor."""
    result = session.execute(stmt, execution_options={"yield_per": BATCH})
    for batch in result.mappings().partitions():
        yield [dict(row) for row in batch]
