"""All SQL of the evals domain."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.orm import Session, defer

from app.evals.models import EvalResult, EvalRun, Evaluator, EvaluatorVersion, VersionStatus
from app.issues.models import Issue
from app.traces.models import Trace


def get_evaluator(session: Session, project_id: int, evaluator_id: int) -> Evaluator | None:
    return session.scalar(select(Evaluator).where(Evaluator.project_id == project_id,
                                                  Evaluator.id == evaluator_id))


def evaluators_of(session: Session, project_id: int) -> list[Evaluator]:
    return list(session.scalars(select(Evaluator).where(Evaluator.project_id == project_id)
                                .order_by(Evaluator.created_at.desc(), Evaluator.id.desc())))


def evaluator_for_issue(session: Session, project_id: int, issue_id: int, origin: str) -> Evaluator | None:
    return session.scalar(select(Evaluator).where(
        Evaluator.project_id == project_id, Evaluator.issue_id == issue_id, Evaluator.origin == origin)
        .order_by(Evaluator.id).limit(1))


def get_version(session: Session, version_id: int) -> EvaluatorVersion | None:
    return session.get(EvaluatorVersion, version_id)


def versions_of(session: Session, evaluator_id: int) -> list[EvaluatorVersion]:
    return list(session.scalars(select(EvaluatorVersion).where(EvaluatorVersion.evaluator_id == evaluator_id)
                                .order_by(EvaluatorVersion.number.desc())))


def versions_by_id(session: Session, version_ids: Sequence[int]) -> dict[int, EvaluatorVersion]:
    rows = session.scalars(select(EvaluatorVersion).where(EvaluatorVersion.id.in_(list(version_ids))))
    return {v.id: v for v in rows}


def next_version_number(session: Session, evaluator_id: int) -> int:
    current = session.scalar(select(func.max(EvaluatorVersion.number))
                             .where(EvaluatorVersion.evaluator_id == evaluator_id))
    return (current or 0) + 1


def running_active_versions(session: Session, project_id: int) -> list[tuple[Evaluator, EvaluatorVersion]]:
    """Active evaluators with a ready version, except those of ignored issues."""
    rows = session.execute(
        select(Evaluator, EvaluatorVersion)
        .join(EvaluatorVersion, EvaluatorVersion.id == Evaluator.active_version_id)
        .outerjoin(Issue, Issue.id == Evaluator.issue_id)
        .where(Evaluator.project_id == project_id, Evaluator.active.is_(True),
               EvaluatorVersion.status == VersionStatus.READY.value, func.coalesce(Issue.state, "") != "ignored"))
    return [(evaluator, version) for evaluator, version in rows]


def has_running_evaluators(session: Session, project_id: int) -> bool:
    return bool(running_active_versions(session, project_id))


_UPSERT_RESULTS = text("""
INSERT INTO eval_result (evaluator_version_id, trace_id, trace_start, run_id, verdict, score, explanation)
SELECT u.version_id, u.trace_id, t.start_time, u.run_id, u.verdict, u.score, u.explanation
FROM unnest(CAST(:version_id AS bigint[]), CAST(:trace_id AS bigint[]), CAST(:run_id AS bigint[]),
            CAST(:verdict AS text[]), CAST(:score AS float8[]), CAST(:explanation AS text[]))
     AS u(version_id, trace_id, run_id, verdict, score, explanation)
JOIN trace t ON t.id = u.trace_id
ON CONFLICT (evaluator_version_id, trace_id) DO UPDATE SET
    verdict = EXCLUDED.verdict, score = EXCLUDED.score, explanation = EXCLUDED.explanation,
    run_id = COALESCE(EXCLUDED.run_id, eval_result.run_id), trace_start = EXCLUDED.trace_start,
    created_at = now()
""")


def upsert_results(session: Session, rows: Sequence[tuple]) -> None:
    """Store verdicts (version, trace, run, verdict, score, explanation); a re-run overwrites."""
    if not rows:
        return
    columns = list(zip(*rows))
    session.execute(_UPSERT_RESULTS, {
        "version_id": list(columns[0]), "trace_id": list(columns[1]), "run_id": list(columns[2]),
        "verdict": list(columns[3]), "score": list(columns[4]), "explanation": list(columns[5])})


def verdict_counts(session: Session, version_id: int, since: datetime | None = None) -> tuple[int, int]:
    """(fails, total) among this version's results, for traces started since `since`."""
    query = select(func.count().filter(EvalResult.verdict == "fail"),
                   func.count().filter(EvalResult.verdict != "error")).where(
        EvalResult.evaluator_version_id == version_id)
    if since is not None:
        query = query.where(EvalResult.trace_start >= since)
    fails, total = session.execute(query).one()
    return fails, total


def get_run(session: Session, run_id: int) -> EvalRun | None:
    return session.get(EvalRun, run_id)


# ---------------------------------------------------------------------------
# Reads for the evaluator pages (each page reads a bounded number of queries)

# What a version's figures need; the spec (a classifier's vocabulary can be large),
# the generation report and the seen ids are only read on the evaluator's own page.
_HEAVY_VERSION_COLUMNS = (EvaluatorVersion.spec, EvaluatorVersion.report, EvaluatorVersion.seen_trace_ids)


def versions_for_evaluators(session: Session, evaluator_ids: Sequence[int]) -> dict[int, list[EvaluatorVersion]]:
    """Every version of these evaluators (newest first), without their specs, in one query."""
    grouped: dict[int, list[EvaluatorVersion]] = {i: [] for i in evaluator_ids}
    if not evaluator_ids:
        return grouped
    rows = session.scalars(select(EvaluatorVersion).options(*(defer(c) for c in _HEAVY_VERSION_COLUMNS))
                           .where(EvaluatorVersion.evaluator_id.in_(list(evaluator_ids)))
                           .order_by(EvaluatorVersion.evaluator_id, EvaluatorVersion.number.desc()))
    for version in rows:
        grouped[version.evaluator_id].append(version)
    return grouped


def verdict_counts_for_versions(session: Session, version_ids: Sequence[int],
                                since: datetime | None = None) -> dict[int, tuple[int, int]]:
    """(fails, total) per version, like `verdict_counts`, for many versions in one query."""
    if not version_ids:
        return {}
    query = select(EvalResult.evaluator_version_id, func.count().filter(EvalResult.verdict == "fail"),
                   func.count().filter(EvalResult.verdict != "error")).where(
        EvalResult.evaluator_version_id.in_(list(version_ids))).group_by(EvalResult.evaluator_version_id)
    if since is not None:
        query = query.where(EvalResult.trace_start >= since)
    counts = {version_id: (0, 0) for version_id in version_ids}
    counts.update({version_id: (fails, total) for version_id, fails, total in session.execute(query)})
    return counts


EXCERPT_CHARS = 300


def recent_failures(session: Session, version_ids: Sequence[int], limit: int = 20,
                    before: tuple[datetime, int] | None = None) -> list[tuple]:
    """The latest fail verdicts of these versions, newest trace first, older than `before` (trace_start,
    result id) when given: (result, version number, trace name, input excerpt, output excerpt).
    Keyset pages over the (version, trace_start) index."""
    if not version_ids:
        return []
    query = (select(EvalResult, EvaluatorVersion.number, Trace.name, func.left(Trace.input, EXCERPT_CHARS),
                    func.left(Trace.output, EXCERPT_CHARS))
             .join(EvaluatorVersion, EvaluatorVersion.id == EvalResult.evaluator_version_id)
             .join(Trace, Trace.id == EvalResult.trace_id)
             .where(EvalResult.evaluator_version_id.in_(list(version_ids)), EvalResult.verdict == "fail"))
    if before is not None:
        query = query.where(tuple_(EvalResult.trace_start, EvalResult.id) < tuple_(*before))
    rows = session.execute(query.order_by(EvalResult.trace_start.desc(), EvalResult.id.desc()).limit(limit))
    return [tuple(row) for row in rows]


def runs_for_versions(session: Session, project_id: int, version_ids: Sequence[int], limit: int = 10) -> list[EvalRun]:
    """The latest runs (backfills, gates) that evaluated any of these versions."""
    if not version_ids:
        return []
    return list(session.scalars(
        select(EvalRun).where(EvalRun.project_id == project_id,
                              EvalRun.evaluator_version_ids.overlap(list(version_ids)))
        .order_by(EvalRun.created_at.desc(), EvalRun.id.desc()).limit(limit)))


def trace_evaluations(session: Session, trace_id: int) -> list[tuple]:
    """Every verdict on one trace: (result, evaluator, version number), by evaluator name then newest version."""
    rows = session.execute(
        select(EvalResult, Evaluator, EvaluatorVersion.number)
        .join(EvaluatorVersion, EvaluatorVersion.id == EvalResult.evaluator_version_id)
        .join(Evaluator, Evaluator.id == EvaluatorVersion.evaluator_id)
        .where(EvalResult.trace_id == trace_id)
        .order_by(Evaluator.name, Evaluator.id, EvaluatorVersion.number.desc()))
    return [tuple(row) for row in rows]


def count_rows(session: Session, query) -> int:
    """How many rows a select returns, without fetching them."""
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
