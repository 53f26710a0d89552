"""All SQL of the dashboard: maintaining the daily roll-ups, and the page's bounded reads."""

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.annotations.models import AnnotationQueue, QueueItem
from app.dashboard.models import (ALL, DashboardAnnotationDay, DashboardDay, DashboardEvalDay, DashboardHumanDay,
                                  DashboardState)
from app.gate.models import GateRun
from app.issues.models import Issue, IssueEvent
from app.traces.models import Trace

# ---------------------------------------------------------------------------
# Roll-ups (worker)

_DIRTY_DAYS = text("""
SELECT DISTINCT (start_time AT TIME ZONE 'UTC')::date FROM trace WHERE project_id = :project_id AND id > :watermark
UNION
SELECT DISTINCT (r.trace_start AT TIME ZONE 'UTC')::date FROM eval_result r
  JOIN trace t ON t.id = r.trace_id WHERE t.project_id = :project_id AND r.id > :result_watermark
""")

# Every combination of (release | all) x (environment | all): a filter reads exact figures.
_TRACE_ROLLUP = text(f"""
INSERT INTO dashboard_day (project_id, day, release, environment, traces, errors, tokens, cost,
                           latency_p50, latency_p95)
SELECT :project_id, d, COALESCE(rel, '{ALL}'), COALESCE(env, '{ALL}'), count(*), count(*) FILTER (WHERE has_error),
       COALESCE(sum(tokens_total), 0), COALESCE(sum(cost), 0),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
FROM (SELECT (start_time AT TIME ZONE 'UTC')::date AS d, COALESCE(release, '') AS rel,
             COALESCE(environment, '') AS env, has_error, tokens_total, cost, duration_ms
      FROM trace WHERE project_id = :project_id AND start_time >= :start AND start_time < :end) t
WHERE d = ANY(:days)
GROUP BY GROUPING SETS ((d), (d, rel), (d, env), (d, rel, env))
""")

_EVAL_ROLLUP = text(f"""
SELECT v AS evaluator_version_id, d AS day, COALESCE(rel, '{ALL}') AS release, COALESCE(env, '{ALL}') AS environment,
       count(*) FILTER (WHERE verdict = 'fail') AS fails, count(*) AS total
FROM (SELECT r.evaluator_version_id AS v, (t.start_time AT TIME ZONE 'UTC')::date AS d,
             COALESCE(t.release, '') AS rel, COALESCE(t.environment, '') AS env, r.verdict
      FROM trace t JOIN eval_result r ON r.trace_id = t.id
      WHERE t.project_id = :project_id AND t.start_time >= :start AND t.start_time < :end
        AND r.verdict <> 'error') x
WHERE d = ANY(:days)
GROUP BY GROUPING SETS ((v, d), (v, d, rel), (v, d, env), (v, d, rel, env))
""")


def state(session: Session, project_id: int) -> DashboardState:
    found = session.get(DashboardState, project_id, with_for_update={"skip_locked": False})
    if found is None:
        found = DashboardState(project_id=project_id, trace_watermark=0, result_watermark=0)
        session.add(found)
        session.flush()
    return found


def watermarks_now(session: Session, project_id: int) -> tuple[int, int]:
    traces = session.scalar(select(func.max(Trace.id)).where(Trace.project_id == project_id)) or 0
    results = session.scalar(text("SELECT max(id) FROM eval_result")) or 0
    return traces, results


def dirty_days(session: Session, project_id: int, trace_watermark: int, result_watermark: int) -> set[date]:
    rows = session.execute(_DIRTY_DAYS, {"project_id": project_id, "watermark": trace_watermark,
                                         "result_watermark": result_watermark})
    return {day for (day,) in rows}


def replace_days(session: Session, project_id: int, days: Sequence[date], start: datetime, end: datetime) -> list:
    """Recompute the traffic roll-up of these days; return the evaluator counts to correct and store."""
    session.execute(text("DELETE FROM dashboard_day WHERE project_id = :p AND day = ANY(:days)"),
                    {"p": project_id, "days": list(days)})
    session.execute(text("DELETE FROM dashboard_eval_day WHERE project_id = :p AND day = ANY(:days)"),
                    {"p": project_id, "days": list(days)})
    params = {"project_id": project_id, "days": list(days), "start": start, "end": end}
    session.execute(_TRACE_ROLLUP, params)
    return list(session.execute(_EVAL_ROLLUP, params))


_LABEL_DAYS = text("""
SELECT DISTINCT (t.start_time AT TIME ZONE 'UTC')::date FROM annotation a JOIN trace t ON t.id = a.trace_id
WHERE a.project_id = :project_id AND a.updated_at >= :since
UNION
SELECT DISTINCT (t.start_time AT TIME ZONE 'UTC')::date FROM adjudication j JOIN trace t ON t.id = j.trace_id
WHERE j.project_id = :project_id AND j.updated_at >= :since
""")

_ANNOTATION_DAYS = text("""
SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM annotation
WHERE project_id = :project_id AND updated_at >= :since
""")

_LABELLED_TRACES = text("""
SELECT DISTINCT t.id, (t.start_time AT TIME ZONE 'UTC')::date, COALESCE(t.release, ''), COALESCE(t.environment, '')
FROM annotation a JOIN trace t ON t.id = a.trace_id
WHERE a.project_id = :project_id AND t.start_time >= :start AND t.start_time < :end
  AND (t.start_time AT TIME ZONE 'UTC')::date = ANY(:days)
""")

_ANNOTATION_ROLLUP = text("""
INSERT INTO dashboard_annotation_day (project_id, day, annotator, annotations, timed, seconds)
SELECT :project_id, (created_at AT TIME ZONE 'UTC')::date, annotator, count(*), count(seconds_spent),
       COALESCE(sum(seconds_spent), 0)
FROM annotation WHERE project_id = :project_id AND (created_at AT TIME ZONE 'UTC')::date = ANY(:days)
GROUP BY 2, 3
""")


def days_with_new_labels(session: Session, project_id: int, since: datetime) -> set[date]:
    """Trace days whose human labels may have changed (annotations or adjudications written since)."""
    return {day for (day,) in session.execute(_LABEL_DAYS, {"project_id": project_id, "since": since})}


def days_with_new_annotations(session: Session, project_id: int, since: datetime) -> set[date]:
    return {day for (day,) in session.execute(_ANNOTATION_DAYS, {"project_id": project_id, "since": since})}


def labelled_traces(session: Session, project_id: int, days: Sequence[date], start: datetime,
                    end: datetime) -> list[tuple]:
    """(trace id, day, release, environment) of annotated traces started on these days."""
    return [tuple(row) for row in session.execute(_LABELLED_TRACES, {"project_id": project_id, "days": list(days),
                                                                      "start": start, "end": end})]


def replace_human_days(session: Session, project_id: int, days: Sequence[date], rows: Sequence[dict]) -> None:
    session.execute(text("DELETE FROM dashboard_human_day WHERE project_id = :p AND day = ANY(:days)"),
                    {"p": project_id, "days": list(days)})
    if rows:
        session.execute(DashboardHumanDay.__table__.insert(), list(rows))


def replace_annotation_days(session: Session, project_id: int, days: Sequence[date]) -> None:
    session.execute(text("DELETE FROM dashboard_annotation_day WHERE project_id = :p AND day = ANY(:days)"),
                    {"p": project_id, "days": list(days)})
    session.execute(_ANNOTATION_ROLLUP, {"project_id": project_id, "days": list(days)})


def insert_eval_days(session: Session, rows: Sequence[dict]) -> None:
    if rows:
        session.execute(DashboardEvalDay.__table__.insert(), list(rows))


def project_ids(session: Session) -> list[int]:
    return list(session.scalars(text("SELECT id FROM project ORDER BY id")))


# ---------------------------------------------------------------------------
# Page reads (each bounded by the days shown, never by the traffic)


def traffic_days(session: Session, project_id: int, start: date, end: date, release: str,
                 environment: str) -> list[DashboardDay]:
    return list(session.scalars(select(DashboardDay).where(
        DashboardDay.project_id == project_id, DashboardDay.day >= start, DashboardDay.day <= end,
        DashboardDay.release == release, DashboardDay.environment == environment).order_by(DashboardDay.day)))


def eval_days(session: Session, version_ids: Sequence[int], start: date, end: date, release: str,
              environment: str) -> list[DashboardEvalDay]:
    if not version_ids:
        return []
    return list(session.scalars(select(DashboardEvalDay).where(
        DashboardEvalDay.evaluator_version_id.in_(list(version_ids)), DashboardEvalDay.day >= start,
        DashboardEvalDay.day <= end, DashboardEvalDay.release == release,
        DashboardEvalDay.environment == environment).order_by(DashboardEvalDay.day)))


def filter_values(session: Session, project_id: int, start: date, end: date) -> tuple[list[str], list[str]]:
    """Releases and environments seen in the range (from the roll-up)."""
    rows = session.execute(select(DashboardDay.release, DashboardDay.environment).where(
        DashboardDay.project_id == project_id, DashboardDay.day >= start, DashboardDay.day <= end,
        (DashboardDay.release == ALL) != (DashboardDay.environment == ALL)))
    releases, environments = set(), set()
    for release, environment in rows:
        (releases.add(release) if environment == ALL else environments.add(environment))
    return sorted(releases), sorted(environments)


def human_days(session: Session, project_id: int, start: date, end: date, release: str,
               environment: str) -> list[DashboardHumanDay]:
    return list(session.scalars(select(DashboardHumanDay).where(
        DashboardHumanDay.project_id == project_id, DashboardHumanDay.day >= start, DashboardHumanDay.day <= end,
        DashboardHumanDay.release == release, DashboardHumanDay.environment == environment)))


def annotation_days(session: Session, project_id: int, start: date, end: date) -> list[DashboardAnnotationDay]:
    return list(session.scalars(select(DashboardAnnotationDay).where(
        DashboardAnnotationDay.project_id == project_id, DashboardAnnotationDay.day >= start,
        DashboardAnnotationDay.day <= end)))


def queue_backlog(session: Session, project_id: int) -> list[tuple[str, int, int]]:
    """(queue name, open items, all items) per live queue."""
    rows = session.execute(
        select(AnnotationQueue.name, func.count(QueueItem.id).filter(QueueItem.done.is_(False)),
               func.count(QueueItem.id))
        .outerjoin(QueueItem, QueueItem.queue_id == AnnotationQueue.id)
        .where(AnnotationQueue.project_id == project_id, AnnotationQueue.archived_at.is_(None))
        .group_by(AnnotationQueue.id, AnnotationQueue.name).order_by(AnnotationQueue.name))
    return [tuple(row) for row in rows]


def issues_of(session: Session, project_id: int) -> list[Issue]:
    return list(session.scalars(select(Issue).where(Issue.project_id == project_id,
                                                    Issue.merged_into_id.is_(None)).order_by(Issue.id)))


def issue_events(session: Session, issue_ids: Sequence[int]) -> list[IssueEvent]:
    if not issue_ids:
        return []
    return list(session.scalars(select(IssueEvent).where(IssueEvent.issue_id.in_(list(issue_ids)),
                                                         IssueEvent.to_state.is_not(None))
                                .order_by(IssueEvent.at, IssueEvent.id)))


def gate_runs(session: Session, project_id: int, start: datetime, end: datetime) -> list[tuple]:
    """(release, verdict, runs, last run id, last at) per release and verdict in the range."""
    rows = session.execute(
        select(GateRun.release, GateRun.verdict, func.count(), func.max(GateRun.id), func.max(GateRun.created_at))
        .where(GateRun.project_id == project_id, GateRun.created_at >= start, GateRun.created_at < end)
        .group_by(GateRun.release, GateRun.verdict).order_by(func.max(GateRun.created_at).desc()))
    return [tuple(row) for row in rows]


def organisation_totals(session: Session, project_ids: Sequence[int], start: date, end: date) -> dict[int, tuple]:
    """(traces, errors, cost) per project over the range, from the roll-up."""
    if not project_ids:
        return {}
    rows = session.execute(
        select(DashboardDay.project_id, func.sum(DashboardDay.traces), func.sum(DashboardDay.errors),
               func.sum(DashboardDay.cost))
        .where(DashboardDay.project_id.in_(list(project_ids)), DashboardDay.day >= start, DashboardDay.day <= end,
               DashboardDay.release == ALL, DashboardDay.environment == ALL)
        .group_by(DashboardDay.project_id))
    return {project_id: (traces, errors, cost) for project_id, traces, errors, cost in rows}


def refreshed_at(session: Session, project_id: int) -> datetime | None:
    return session.scalar(select(DashboardState.refreshed_at).where(DashboardState.project_id == project_id))
