"""All SQL of the issues domain.

Some statements write other domains' link tables (annotation_issue, adjudication.issue_ids,
evaluator.issue_id): they are issue operations — merging issues, linking failures to an
issue — and belong with the issue's rules rather than scattered over three domains.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.issues.lifecycle import State
from app.issues.models import (Issue, IssueEvent, IssueSuggestion, Notification, NotificationSeen, SuggestionRun,
                               Webhook, WebhookDelivery)

# ---------------------------------------------------------------------------
# Issues


def get_issue(session: Session, project_id: int, issue_id: int, *, for_update: bool = False) -> Issue | None:
    query = select(Issue).where(Issue.project_id == project_id, Issue.id == issue_id)
    return session.scalar(query.with_for_update() if for_update else query)


def issues_by_id(session: Session, project_id: int, issue_ids: Sequence[int], *,
                 for_update: bool = False) -> list[Issue]:
    if not issue_ids:
        return []
    query = select(Issue).where(Issue.project_id == project_id, Issue.id.in_(list(issue_ids))).order_by(Issue.id)
    return list(session.scalars(query.with_for_update() if for_update else query))


def issue_titled(session: Session, project_id: int, title: str) -> Issue | None:
    return session.scalar(select(Issue).where(
        Issue.project_id == project_id, func.lower(Issue.title) == title.strip().lower(),
        Issue.merged_into_id.is_(None)).order_by(Issue.id).limit(1))


def open_issues(session: Session, project_id: int) -> list[Issue]:
    """Issues annotators can pick as failure modes: not merged away, most recent first."""
    return list(session.scalars(select(Issue).where(
        Issue.project_id == project_id, Issue.merged_into_id.is_(None))
        .order_by(Issue.last_seen.desc().nulls_last(), Issue.id.desc())))


def _like(text_: str) -> str:
    escaped = text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def board_issues(session: Session, project_id: int, *, states: Sequence[str] = (), text_: str = "",
                 has_evaluator: bool | None = None, limit: int = 1000) -> list[Issue]:
    """The project's issues (not merged) matching the board's filters."""
    query = select(Issue).where(Issue.project_id == project_id, Issue.merged_into_id.is_(None))
    if states:
        query = query.where(Issue.state.in_(list(states)))
    if text_.strip():
        pattern = _like(text_.strip())
        query = query.where(or_(Issue.title.ilike(pattern, escape="\\"),
                                Issue.description.ilike(pattern, escape="\\")))
    if has_evaluator is not None:
        # Read as data, like the figures below: the issues domain imports nothing of evals.
        linked = "EXISTS (SELECT 1 FROM evaluator e WHERE e.issue_id = issue.id)"
        query = query.where(text(linked if has_evaluator else f"NOT {linked}"))
    return list(session.scalars(query.order_by(Issue.last_seen.desc().nulls_last(), Issue.id.desc()).limit(limit)))


def live_issues_for_update(session: Session, project_id: int) -> list[Issue]:
    """Issues the system may move (new, ongoing, escalating), locked for this transaction."""
    states = [State.NEW.value, State.ONGOING.value, State.ESCALATING.value]
    return list(session.scalars(select(Issue).where(
        Issue.project_id == project_id, Issue.merged_into_id.is_(None), Issue.state.in_(states))
        .order_by(Issue.id).with_for_update()))


def project_ids_with_live_issues(session: Session) -> list[int]:
    states = [State.NEW.value, State.ONGOING.value, State.ESCALATING.value]
    return list(session.scalars(select(Issue.project_id).where(
        Issue.merged_into_id.is_(None), Issue.state.in_(states)).distinct().order_by(Issue.project_id)))


def events_of(session: Session, issue_id: int) -> list[IssueEvent]:
    return list(session.scalars(select(IssueEvent).where(IssueEvent.issue_id == issue_id)
                                .order_by(IssueEvent.at, IssueEvent.id)))


def actor_names(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """Display names for "user:<id>" actors (others, like "system", show as they are)."""
    ids = {int(a.split(":", 1)[1]) for a in actors if a.startswith("user:") and a.split(":", 1)[1].isdigit()}
    if not ids:
        return {}
    rows = session.execute(text("""SELECT id, coalesce(nullif(name, ''), email) FROM "user" WHERE id = ANY(:ids)"""),
                           {"ids": sorted(ids)})
    return {f"user:{user_id}": name for user_id, name in rows}


def get_event(session: Session, event_id: int) -> IssueEvent | None:
    return session.get(IssueEvent, event_id)


def try_project_lock(session: Session, name: str, project_id: int) -> bool:
    """A transaction-scoped advisory lock: one worker at a time per (job, project); others skip."""
    return bool(session.scalar(text(
        "SELECT pg_try_advisory_xact_lock(hashtext(:name), CAST(:project_id AS integer))"),
                               {"name": name, "project_id": int(project_id)}))


# ---------------------------------------------------------------------------
# Occurrences and figures (read across annotations and evaluators)


def traces_naming_issues(session: Session, project_id: int, issue_ids: Sequence[int]) -> dict[int, datetime]:
    """Traces some annotation or adjudication links to one of these issues, with their start.

    The candidates for a human occurrence; the label rule then decides which really are.
    """
    if not issue_ids:
        return {}
    rows = session.execute(text("""
        SELECT t.id, t.start_time FROM trace t
        WHERE t.project_id = :project_id AND t.id IN (
            SELECT a.trace_id FROM annotation_issue ai JOIN annotation a ON a.id = ai.annotation_id
            WHERE ai.issue_id = ANY(:issue_ids) AND a.project_id = :project_id
            UNION
            SELECT d.trace_id FROM adjudication d
            WHERE d.project_id = :project_id AND EXISTS (
                SELECT 1 FROM jsonb_array_elements_text(d.issue_ids) x WHERE x::bigint = ANY(:issue_ids)))
    """), {"project_id": project_id, "issue_ids": list(issue_ids)})
    return {trace_id: start for trace_id, start in rows}


# Occurrences = distinct traces per issue, from people (pairs passed in, decided by the
# label rule in Python) and from evaluators (fail results of the active version of an
# active evaluator of the issue). A trace found by both counts once.
_OCCURRENCES = """
WITH human(issue_id, trace_id, at) AS (
    SELECT * FROM unnest(CAST(:h_issue AS bigint[]), CAST(:h_trace AS bigint[]), CAST(:h_at AS timestamptz[]))
), detected AS (
    SELECT e.issue_id, r.trace_id, r.trace_start AS at
    FROM evaluator e JOIN eval_result r ON r.evaluator_version_id = e.active_version_id
    WHERE e.project_id = :project_id AND e.active AND e.issue_id = ANY(:issue_ids) AND r.verdict = 'fail'
      AND r.trace_start >= :detected_since
), occurrence AS (
    SELECT issue_id, trace_id, min(at) AS at, bool_or(human) AS human, bool_or(NOT human) AS detected
    FROM (SELECT issue_id, trace_id, at, true AS human FROM human
          UNION ALL SELECT issue_id, trace_id, at, false FROM detected) o
    GROUP BY issue_id, trace_id
)
"""

# Totals per issue and counts per UTC day since :since, in one pass (grouping sets).
_FIGURES = text(_OCCURRENCES + """
SELECT issue_id, GROUPING(day) = 0 AS is_day, day,
       count(*) FILTER (WHERE human), count(*) FILTER (WHERE detected), count(*), max(at)
FROM (SELECT *, CASE WHEN at >= :since THEN date_trunc('day', at, 'UTC') END AS day FROM occurrence) o
GROUP BY GROUPING SETS ((issue_id), (issue_id, day))
""")

_HOURLY = text(_OCCURRENCES + """
SELECT issue_id, date_trunc('hour', at, 'UTC') AS hour, count(*)
FROM occurrence WHERE at >= :since
GROUP BY 1, 2
""")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _occurrence_params(project_id: int, issue_ids: Sequence[int],
                       human: Iterable[tuple[int, int, datetime]], detected_since: datetime | None) -> dict:
    pairs = list(human)
    return {"project_id": project_id, "issue_ids": list(issue_ids),
            "h_issue": [p[0] for p in pairs], "h_trace": [p[1] for p in pairs], "h_at": [p[2] for p in pairs],
            "detected_since": detected_since or _EPOCH}


def occurrence_figures(session: Session, project_id: int, issue_ids: Sequence[int],
                       human: Iterable[tuple[int, int, datetime]], since: datetime) -> list[tuple]:
    """Rows (issue_id, is_day, day, human, detected, traces, last_at): totals, then days since `since`."""
    if not issue_ids:
        return []
    params = _occurrence_params(project_id, issue_ids, human, None) | {"since": since}
    return [tuple(row) for row in session.execute(_FIGURES, params)]


def hourly_occurrences(session: Session, project_id: int, issue_ids: Sequence[int],
                       human: Iterable[tuple[int, int, datetime]], since: datetime) -> list[tuple[int, datetime, int]]:
    """(issue_id, hour, distinct traces) for hours from `since` on: the escalation test's input."""
    if not issue_ids:
        return []
    params = _occurrence_params(project_id, issue_ids, human, since) | {"since": since}
    return [tuple(row) for row in session.execute(_HOURLY, params)]


def evaluators_of(session: Session, issue_ids: Sequence[int]) -> list[tuple]:
    """(issue_id, evaluator id, name, active, version number, mcc, ci low, ci high, version is the active one),
    running evaluators first, then best MCC. The figures are the active version's; an evaluator never
    activated shows its latest ready version's, so a fresh candidate's quality is visible before it runs."""
    if not issue_ids:
        return []
    rows = session.execute(text("""
        SELECT e.issue_id, e.id, e.name, e.active, v.number, v.mcc, v.mcc_ci_low, v.mcc_ci_high,
               coalesce(v.id = e.active_version_id, false)
        FROM evaluator e
        LEFT JOIN LATERAL (
            SELECT * FROM evaluator_version v
            WHERE v.evaluator_id = e.id
              AND (v.id = e.active_version_id OR (e.active_version_id IS NULL AND v.status = 'ready'))
            ORDER BY v.number DESC LIMIT 1) v ON true
        WHERE e.issue_id = ANY(:issue_ids)
        ORDER BY e.issue_id, e.active DESC, v.mcc DESC NULLS LAST, e.id
    """), {"issue_ids": list(issue_ids)})
    return [tuple(row) for row in rows]


def failed_annotations(session: Session, trace_ids: Sequence[int], limit: int) -> list[tuple]:
    """(annotation id, trace id, annotator name, feedback, updated_at, trace name, output excerpt, input excerpt),
    newest first."""
    if not trace_ids:
        return []
    rows = session.execute(text("""
        SELECT a.id, a.trace_id, coalesce(nullif(u.name, ''), u.email, a.annotator), a.feedback, a.updated_at,
               t.name, left(t.output, 400), left(t.input, 300)
        FROM annotation a JOIN trace t ON t.id = a.trace_id LEFT JOIN "user" u ON u.id = a.author_id
        WHERE a.trace_id = ANY(:trace_ids) AND a.verdict = 'fail'
        ORDER BY a.updated_at DESC, a.id DESC LIMIT :limit
    """), {"trace_ids": list(trace_ids), "limit": limit})
    return [tuple(row) for row in rows]


def recent_passing_trace_ids(session: Session, project_id: int, limit: int) -> list[int]:
    """Traces someone judged pass (annotation or adjudication), most recent judgement first."""
    return list(session.scalars(text("""
        SELECT trace_id FROM (
            SELECT trace_id, updated_at FROM annotation WHERE project_id = :p AND verdict = 'pass'
            UNION ALL SELECT trace_id, updated_at FROM adjudication WHERE project_id = :p AND verdict = 'pass'
        ) j GROUP BY trace_id ORDER BY max(updated_at) DESC LIMIT :limit
    """), {"p": project_id, "limit": limit}))


def trace_summaries(session: Session, trace_ids: Sequence[int]) -> dict[int, tuple]:
    """trace id -> (name, start_time, output excerpt, input excerpt)."""
    if not trace_ids:
        return {}
    rows = session.execute(text("""
        SELECT id, name, start_time, left(output, 400), left(input, 300) FROM trace WHERE id = ANY(:ids)
    """), {"ids": list(trace_ids)})
    return {row[0]: tuple(row[1:]) for row in rows}


def failure_texts(session: Session, trace_ids: Sequence[int]) -> list[tuple[int, str, str]]:
    """(trace id, the fail annotations' feedback joined, the trace's output) for clustering."""
    if not trace_ids:
        return []
    rows = session.execute(text("""
        SELECT t.id, string_agg(a.feedback, E'\\n' ORDER BY a.id), coalesce(left(t.output, 4000), '')
        FROM trace t JOIN annotation a ON a.trace_id = t.id AND a.verdict = 'fail'
        WHERE t.id = ANY(:ids)
        GROUP BY t.id ORDER BY t.id
    """), {"ids": list(trace_ids)})
    return [tuple(row) for row in rows]


def failure_inputs_marker(session: Session, trace_ids: Sequence[int]) -> datetime | None:
    """The latest change to the annotations of these traces: part of the suggestions' input fingerprint."""
    if not trace_ids:
        return None
    return session.scalar(text("SELECT max(updated_at) FROM annotation WHERE trace_id = ANY(:ids)"),
                          {"ids": list(trace_ids)})


# ---------------------------------------------------------------------------
# Linking and merging (issue operations on other domains' link tables)


def link_failures(session: Session, project_id: int, issue_id: int, trace_ids: Sequence[int]) -> None:
    """Name the issue on these traces' fail annotations and fail adjudications (idempotent)."""
    params = {"project_id": project_id, "issue_id": issue_id, "trace_ids": list(trace_ids)}
    session.execute(text("""
        INSERT INTO annotation_issue (annotation_id, issue_id)
        SELECT a.id, :issue_id FROM annotation a
        WHERE a.project_id = :project_id AND a.trace_id = ANY(:trace_ids) AND a.verdict = 'fail'
        ON CONFLICT DO NOTHING
    """), params)
    session.execute(text("""
        UPDATE adjudication SET issue_ids = issue_ids || jsonb_build_array(:issue_id), updated_at = now()
        WHERE project_id = :project_id AND trace_id = ANY(:trace_ids) AND verdict = 'fail'
          AND NOT issue_ids @> jsonb_build_array(:issue_id)
    """), params)


def move_issue_links(session: Session, source_id: int, target_id: int) -> None:
    """Everything that names `source` names `target` instead: annotations, adjudications,
    evaluators, history, earlier merges."""
    params = {"source": source_id, "target": target_id}
    session.execute(text("""
        INSERT INTO annotation_issue (annotation_id, issue_id)
        SELECT annotation_id, :target FROM annotation_issue WHERE issue_id = :source
        ON CONFLICT DO NOTHING
    """), params)
    session.execute(text("DELETE FROM annotation_issue WHERE issue_id = :source"), params)
    session.execute(text("""
        UPDATE adjudication SET issue_ids = (
            SELECT jsonb_agg(DISTINCT CASE WHEN x::bigint = :source THEN :target ELSE x::bigint END)
            FROM jsonb_array_elements_text(issue_ids) x)
        WHERE issue_ids @> jsonb_build_array(:source)
    """), params)
    session.execute(text("UPDATE evaluator SET issue_id = :target WHERE issue_id = :source"), params)
    session.execute(update(IssueEvent).where(IssueEvent.issue_id == source_id).values(issue_id=target_id))
    session.execute(update(Issue).where(Issue.merged_into_id == source_id).values(merged_into_id=target_id))
    session.execute(delete(IssueSuggestion).where(IssueSuggestion.issue_id == source_id,
                                                  IssueSuggestion.status == "open"))


# ---------------------------------------------------------------------------
# Suggestions


def open_suggestions(session: Session, project_id: int) -> list[IssueSuggestion]:
    return list(session.scalars(select(IssueSuggestion).where(
        IssueSuggestion.project_id == project_id, IssueSuggestion.status == "open")
        .order_by(func.cardinality(IssueSuggestion.trace_ids).desc(), IssueSuggestion.id)))


def dismissed_suggestions(session: Session, project_id: int) -> list[IssueSuggestion]:
    return list(session.scalars(select(IssueSuggestion).where(
        IssueSuggestion.project_id == project_id, IssueSuggestion.status == "dismissed")))


def get_suggestion(session: Session, project_id: int, suggestion_id: int) -> IssueSuggestion | None:
    return session.scalar(select(IssueSuggestion).where(
        IssueSuggestion.project_id == project_id, IssueSuggestion.id == suggestion_id).with_for_update())


def upsert_suggestions(session: Session, project_id: int, rows: Sequence[dict]) -> None:
    """Insert new proposals; a proposal already stored (same fingerprint) keeps its status."""
    if not rows:
        return
    statement = insert(IssueSuggestion).values([{"project_id": project_id, **row} for row in rows])
    statement = statement.on_conflict_do_update(
        index_elements=["project_id", "fingerprint"],
        set_={"label": statement.excluded.label, "score": statement.excluded.score})
    session.execute(statement)


def drop_open_suggestions_except(session: Session, project_id: int, fingerprints: Sequence[str]) -> None:
    session.execute(delete(IssueSuggestion).where(
        IssueSuggestion.project_id == project_id, IssueSuggestion.status == "open",
        IssueSuggestion.fingerprint.not_in(list(fingerprints))))


def suggestion_run(session: Session, project_id: int) -> SuggestionRun | None:
    return session.get(SuggestionRun, project_id)


def save_suggestion_run(session: Session, project_id: int, inputs: str, failures: int) -> None:
    statement = insert(SuggestionRun).values(project_id=project_id, inputs=inputs, failures=failures)
    session.execute(statement.on_conflict_do_update(
        index_elements=["project_id"],
        set_={"inputs": inputs, "failures": failures, "computed_at": func.now()}))


def project_ids_with_annotations(session: Session) -> list[int]:
    return list(session.scalars(text("SELECT DISTINCT project_id FROM annotation WHERE verdict = 'fail' ORDER BY 1")))


# ---------------------------------------------------------------------------
# Webhooks and deliveries


def webhooks_of(session: Session, project_id: int) -> list[Webhook]:
    return list(session.scalars(select(Webhook).where(Webhook.project_id == project_id).order_by(Webhook.id)))


def get_webhook(session: Session, project_id: int, webhook_id: int) -> Webhook | None:
    return session.scalar(select(Webhook).where(Webhook.project_id == project_id, Webhook.id == webhook_id))


def subscribed_webhooks(session: Session, project_id: int, kind: str) -> list[Webhook]:
    return list(session.scalars(select(Webhook).where(
        Webhook.project_id == project_id, Webhook.active.is_(True), Webhook.events.contains([kind]))
        .order_by(Webhook.id)))


def add_delivery(session: Session, webhook_id: int, event_id: int | None, kind: str, payload: dict) -> int | None:
    """A new delivery's id; None when this webhook already has one for this event."""
    statement = insert(WebhookDelivery).values(webhook_id=webhook_id, event_id=event_id, kind=kind,
                                               payload=payload)
    if event_id is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
    return session.scalar(statement.returning(WebhookDelivery.id))


def delivery_for_update(session: Session, delivery_id: int) -> WebhookDelivery | None:
    """The delivery, locked; None if another worker holds it (it is being sent right now)."""
    return session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                          .with_for_update(skip_locked=True))


def deliveries_of(session: Session, project_id: int, limit: int = 50) -> list[tuple[WebhookDelivery, str]]:
    rows = session.execute(select(WebhookDelivery, Webhook.url).join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                           .where(Webhook.project_id == project_id)
                           .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit))
    return [(delivery, url) for delivery, url in rows]


def claim_overdue_deliveries(session: Session, before: datetime, now: datetime, limit: int = 100) -> list[int]:
    """Pending deliveries whose next attempt is long past (their job was lost), re-planned for
    `now` so that the next sweep does not send them again while this one's jobs run."""
    overdue = (select(WebhookDelivery.id).where(WebhookDelivery.status == "pending",
                                                WebhookDelivery.next_attempt_at < before)
               .order_by(WebhookDelivery.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
    return list(session.scalars(update(WebhookDelivery).where(WebhookDelivery.id.in_(overdue.scalar_subquery()))
                                .values(next_attempt_at=now).returning(WebhookDelivery.id)))


# ---------------------------------------------------------------------------
# Notifications


def add_notification(session: Session, *, project_id: int, issue_id: int, event_id: int, kind: str,
                     message: str, at: datetime) -> bool:
    statement = insert(Notification).values(project_id=project_id, issue_id=issue_id, event_id=event_id,
                                            kind=kind, message=message, at=at)
    return session.scalar(statement.on_conflict_do_nothing(index_elements=["event_id"])
                          .returning(Notification.id)) is not None


def unnotified_event_ids(session: Session, since: datetime, limit: int = 200) -> list[int]:
    """Alerting events without their notification: their job was lost (a periodic sweep catches up)."""
    return list(session.scalars(text("""
        SELECT e.id FROM issue_event e
        WHERE e.at >= :since AND (e.kind = 'created'
              OR (e.kind = 'transition' AND e.to_state IN ('escalating', 'regressed', 'resolved')))
          AND NOT EXISTS (SELECT 1 FROM notification n WHERE n.event_id = e.id)
        ORDER BY e.id LIMIT :limit
    """), {"since": since, "limit": limit}))


def notifications_of(session: Session, project_id: int, limit: int = 50) -> list[tuple[Notification, str]]:
    rows = session.execute(select(Notification, Issue.title).join(Issue, Issue.id == Notification.issue_id)
                           .where(Notification.project_id == project_id)
                           .order_by(Notification.at.desc(), Notification.id.desc()).limit(limit))
    return [(notification, title) for notification, title in rows]


def seen_id(session: Session, user_id: int, project_id: int) -> int:
    return session.scalar(select(NotificationSeen.seen_id).where(
        NotificationSeen.user_id == user_id, NotificationSeen.project_id == project_id)) or 0


def unread_count(session: Session, user_id: int, project_id: int) -> int:
    seen = select(NotificationSeen.seen_id).where(NotificationSeen.user_id == user_id,
                                                  NotificationSeen.project_id == project_id).scalar_subquery()
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.project_id == project_id, Notification.id > func.coalesce(seen, 0))) or 0


def mark_seen(session: Session, user_id: int, project_id: int, notification_id: int) -> None:
    statement = insert(NotificationSeen).values(user_id=user_id, project_id=project_id, seen_id=notification_id)
    session.execute(statement.on_conflict_do_update(
        index_elements=["user_id", "project_id"],
        set_={"seen_id": func.greatest(NotificationSeen.seen_id, notification_id)}))
