"""All SQL of the annotations domain."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotations.models import (Adjudication, Annotation, AnnotationIssue, AnnotationQueue, QueueItem,
                                    QueueLock, QueueMember, QueueSkip)
from app.traces.models import Trace


def get_queue(session: Session, project_id: int, queue_id: int) -> AnnotationQueue | None:
    return session.scalar(select(AnnotationQueue).where(AnnotationQueue.project_id == project_id,
                                                        AnnotationQueue.id == queue_id))


def queues_of(session: Session, project_id: int) -> list[AnnotationQueue]:
    return list(session.scalars(select(AnnotationQueue).where(
        AnnotationQueue.project_id == project_id, AnnotationQueue.archived_at.is_(None))
        .order_by(AnnotationQueue.created_at.desc())))


def live_queues(session: Session, project_id: int) -> list[AnnotationQueue]:
    return list(session.scalars(select(AnnotationQueue).where(
        AnnotationQueue.project_id == project_id, AnnotationQueue.live.is_(True),
        AnnotationQueue.archived_at.is_(None))))


def member_ids(session: Session, queue_id: int) -> list[int]:
    return members_of_queues(session, [queue_id])[queue_id]


def members_of_queues(session: Session, queue_ids: Sequence[int]) -> dict[int, list[int]]:
    """queue id -> its members' user ids (none: every annotator and admin of the project)."""
    found: dict[int, list[int]] = {queue_id: [] for queue_id in queue_ids}
    rows = session.execute(select(QueueMember.queue_id, QueueMember.user_id)
                           .where(QueueMember.queue_id.in_(list(queue_ids))).order_by(QueueMember.user_id))
    for queue_id, user_id in rows:
        found[queue_id].append(user_id)
    return found


def set_members(session: Session, queue_id: int, user_ids: Sequence[int]) -> None:
    session.execute(delete(QueueMember).where(QueueMember.queue_id == queue_id))
    if user_ids:
        session.execute(insert(QueueMember), [{"queue_id": queue_id, "user_id": u} for u in user_ids])


def add_sampled_items(session: Session, queue_id: int, trace_ids, rate: float, cap: int | None) -> int:
    """Add a deterministic sample of the traces `trace_ids` (a select of ids) selects.

    A trace is in the sample when a hash of (trace, queue) falls under the rate, so
    re-running a fill — or live sampling seeing a trace again — decides the same way.
    """
    if rate < 1:
        bucket = func.abs(func.hashtext(Trace.external_id + f":{queue_id}")) % 1_000_000
        trace_ids = trace_ids.where(bucket < int(rate * 1_000_000))
    if cap:
        trace_ids = trace_ids.limit(cap)
    chosen = trace_ids.subquery()
    statement = insert(QueueItem).from_select(["queue_id", "trace_id"],
                                              select(literal(queue_id), chosen.c.id))
    statement = statement.on_conflict_do_nothing(index_elements=["queue_id", "trace_id"]).returning(QueueItem.id)
    return count_earlier_annotations(session, [item_id for item_id, in session.execute(statement)])


def existing_trace_ids(session: Session, project_id: int, trace_ids: Sequence[int]) -> list[int]:
    return list(session.scalars(select(Trace.id).where(Trace.project_id == project_id,
                                                       Trace.id.in_(list(trace_ids)))))


def add_items(session: Session, queue_id: int, trace_ids: Sequence[int]) -> int:
    if not trace_ids:
        return 0
    statement = insert(QueueItem).values([{"queue_id": queue_id, "trace_id": t} for t in trace_ids])
    statement = statement.on_conflict_do_nothing(index_elements=["queue_id", "trace_id"]).returning(QueueItem.id)
    return count_earlier_annotations(session, [item_id for item_id, in session.execute(statement)])


def count_earlier_annotations(session: Session, item_ids: list[int]) -> int:
    """A judgement is of the trace, not of the queue it was made in: new items count the
    annotations their traces already have, so an item people already judged elsewhere is
    done at once instead of waiting for ever for annotators who may not judge it twice.
    Returns how many items were added."""
    if item_ids:
        session.execute(text("""
            UPDATE queue_item qi SET annotation_count = c.n, done = c.n >= q.annotators_per_item
            FROM annotation_queue q,
                 (SELECT a.trace_id, count(*) AS n FROM annotation a
                  WHERE a.author_id IS NOT NULL
                    AND a.trace_id IN (SELECT trace_id FROM queue_item WHERE id = ANY(:ids))
                  GROUP BY a.trace_id) c
            WHERE qi.id = ANY(:ids) AND q.id = qi.queue_id AND c.trace_id = qi.trace_id
        """), {"ids": item_ids})
    return len(item_ids)


def get_item(session: Session, queue_id: int, item_id: int) -> QueueItem | None:
    return session.scalar(select(QueueItem).where(QueueItem.queue_id == queue_id, QueueItem.id == item_id))


_HELD_ITEM = text("""
SELECT l.item_id FROM queue_lock l JOIN queue_item qi ON qi.id = l.item_id
WHERE l.user_id = :user_id AND qi.queue_id = :queue_id AND NOT qi.done AND l.locked_until > now()
  AND NOT EXISTS (SELECT 1 FROM annotation a WHERE a.trace_id = qi.trace_id AND a.annotator = :annotator)
ORDER BY l.item_id LIMIT 1
""")

# Where the annotator's recent work in this queue ends: the highest item among their
# latest annotations made in it (the latest several, so going back to edit one older
# item does not pull it back).
RECENT_FOR_FRONTIER = 50
_FRONTIER = f"""
SELECT coalesce(max(qi.id), 0) FROM queue_item qi JOIN (
    SELECT a.trace_id FROM annotation a WHERE a.queue_id = :queue_id AND a.author_id = :user_id
    ORDER BY a.updated_at DESC LIMIT {RECENT_FOR_FRONTIER}) recent ON recent.trace_id = qi.trace_id
WHERE qi.queue_id = :queue_id
"""

# The first open item this annotator has neither done nor skipped, and that is not
# already held by enough other annotators. SKIP LOCKED makes concurrent claims take
# different items; the row lock lasts until the claim commits, the queue_lock row
# (with its expiry) after that.
_CLAIM = """
WITH candidate AS (
    SELECT qi.id FROM queue_item qi
    WHERE qi.queue_id = :queue_id AND NOT qi.done AND qi.id > ({after})
      AND NOT EXISTS (SELECT 1 FROM annotation a WHERE a.trace_id = qi.trace_id AND a.annotator = :annotator)
      AND NOT EXISTS (SELECT 1 FROM queue_skip s WHERE s.item_id = qi.id AND s.user_id = :user_id)
      AND qi.annotation_count + (SELECT count(*) FROM queue_lock l WHERE l.item_id = qi.id
                                   AND l.user_id <> :user_id AND l.locked_until > now()) < :per_item
    ORDER BY qi.id
    LIMIT 1
    FOR UPDATE OF qi SKIP LOCKED
)
INSERT INTO queue_lock (item_id, user_id, locked_until)
SELECT id, :user_id, now() + make_interval(secs => :lock_seconds) FROM candidate
ON CONFLICT (item_id, user_id) DO UPDATE SET locked_until = EXCLUDED.locked_until
RETURNING item_id
"""
# Claims look past the frontier first: with two or more annotators per item, the items
# this annotator already did stay open until others catch up, and wading through them
# on every claim would make each claim slower than the last. Only when nothing is left
# past it does a claim scan the whole queue (for items whose holders let them lapse).
_CLAIM_PAST_FRONTIER = text(_CLAIM.format(after=_FRONTIER))
_CLAIM_ANYWHERE = text(_CLAIM.format(after="0"))


def held_item_id(session: Session, queue_id: int, user_id: int, annotator: str) -> int | None:
    return session.scalar(_HELD_ITEM, {"queue_id": queue_id, "user_id": user_id, "annotator": annotator})


def claim_next_item_id(session: Session, queue_id: int, user_id: int, annotator: str, per_item: int,
                       lock_seconds: int) -> int | None:
    params = {"queue_id": queue_id, "user_id": user_id, "annotator": annotator, "per_item": per_item,
              "lock_seconds": lock_seconds}
    return session.scalar(_CLAIM_PAST_FRONTIER, params) or session.scalar(_CLAIM_ANYWHERE, params)


def lock_item(session: Session, item_id: int, user_id: int, lock_seconds: int) -> None:
    session.execute(text("""
        INSERT INTO queue_lock (item_id, user_id, locked_until)
        VALUES (:item_id, :user_id, now() + make_interval(secs => :lock_seconds))
        ON CONFLICT (item_id, user_id) DO UPDATE SET locked_until = EXCLUDED.locked_until
    """), {"item_id": item_id, "user_id": user_id, "lock_seconds": lock_seconds})


def release_lock(session: Session, item_id: int, user_id: int) -> None:
    session.execute(delete(QueueLock).where(QueueLock.item_id == item_id, QueueLock.user_id == user_id))


def release_queue_lock(session: Session, queue_id: int, trace_id: int, user_id: int) -> None:
    item_ids = select(QueueItem.id).where(QueueItem.queue_id == queue_id, QueueItem.trace_id == trace_id)
    session.execute(delete(QueueLock).where(QueueLock.item_id.in_(item_ids), QueueLock.user_id == user_id))


def locks_held_by_others(session: Session, item_id: int, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(QueueLock).where(
        QueueLock.item_id == item_id, QueueLock.user_id != user_id, QueueLock.locked_until > func.now())) or 0


def skip_item(session: Session, item_id: int, user_id: int) -> None:
    session.execute(insert(QueueSkip).values(item_id=item_id, user_id=user_id).on_conflict_do_nothing())


def unskip_item(session: Session, item_id: int, user_id: int) -> None:
    session.execute(delete(QueueSkip).where(QueueSkip.item_id == item_id, QueueSkip.user_id == user_id))


def skipped_items(session: Session, queue_id: int, user_id: int) -> list:
    """(item id, trace id, trace name, skipped at) of the open items this person skipped, oldest first."""
    return list(session.execute(
        select(QueueItem.id, QueueItem.trace_id, Trace.name, QueueSkip.at)
        .join(QueueSkip, QueueSkip.item_id == QueueItem.id)
        .join(Trace, Trace.id == QueueItem.trace_id)
        .where(QueueItem.queue_id == queue_id, QueueSkip.user_id == user_id, QueueItem.done.is_(False))
        .order_by(QueueSkip.at, QueueItem.id)))


def my_pace(session: Session, queue_id: int, user_id: int) -> tuple[int, float | None]:
    """(open items I skipped, median seconds I spent per annotated item in this queue)."""
    skipped = select(func.count()).select_from(QueueSkip).join(QueueItem, QueueItem.id == QueueSkip.item_id).where(
        QueueItem.queue_id == queue_id, QueueSkip.user_id == user_id, QueueItem.done.is_(False)).scalar_subquery()
    median = select(func.percentile_cont(0.5).within_group(Annotation.seconds_spent)).where(
        Annotation.queue_id == queue_id, Annotation.author_id == user_id,
        Annotation.seconds_spent.is_not(None)).scalar_subquery()
    count, seconds = session.execute(select(skipped, median)).one()
    return count or 0, seconds


def annotation_of(session: Session, trace_id: int, annotator: str) -> Annotation | None:
    return session.scalar(select(Annotation).where(Annotation.trace_id == trace_id,
                                                   Annotation.annotator == annotator))


def issue_ids_of(session: Session, annotation_id: int) -> list[int]:
    return list(session.scalars(select(AnnotationIssue.issue_id).where(
        AnnotationIssue.annotation_id == annotation_id).order_by(AnnotationIssue.issue_id)))


def set_issue_ids(session: Session, annotation_id: int, issue_ids: Sequence[int]) -> None:
    session.execute(delete(AnnotationIssue).where(AnnotationIssue.annotation_id == annotation_id))
    if issue_ids:
        session.execute(insert(AnnotationIssue),
                        [{"annotation_id": annotation_id, "issue_id": i} for i in sorted(set(issue_ids))])


def refresh_item_counts(session: Session, trace_id: int) -> None:
    """Recount every queue item of this trace from its annotations (idempotent)."""
    session.execute(text("""
        UPDATE queue_item qi
        SET annotation_count = c.n, done = c.n >= q.annotators_per_item
        FROM annotation_queue q,
             (SELECT count(*) AS n FROM annotation WHERE trace_id = :trace_id AND author_id IS NOT NULL) c
        WHERE qi.trace_id = :trace_id AND q.id = qi.queue_id
    """), {"trace_id": trace_id})


def previous_item_id(session: Session, queue_id: int, annotator: str, before: datetime | None) -> int | None:
    """The item of this queue the annotator annotated most recently (before `before`)."""
    query = (select(QueueItem.id).join(Annotation, Annotation.trace_id == QueueItem.trace_id)
             .where(QueueItem.queue_id == queue_id, Annotation.annotator == annotator))
    if before is not None:
        query = query.where(Annotation.updated_at < before)
    return session.scalar(query.order_by(Annotation.updated_at.desc()).limit(1))


def progress(session: Session, queue_id: int) -> tuple[int, int]:
    return progress_of_queues(session, [queue_id])[queue_id]


def progress_of_queues(session: Session, queue_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """queue id -> (done items, items)."""
    rows = session.execute(select(QueueItem.queue_id, func.count().filter(QueueItem.done), func.count())
                           .where(QueueItem.queue_id.in_(list(queue_ids))).group_by(QueueItem.queue_id))
    found = {queue_id: (done, total) for queue_id, done, total in rows}
    return {queue_id: found.get(queue_id, (0, 0)) for queue_id in queue_ids}


def progress_by_annotator(session: Session, queue_ids: Sequence[int]) -> dict[int, list[tuple[str, str, int]]]:
    """queue id -> (annotator key, name, annotations of the queue's traces), most first."""
    rows = session.execute(
        select(QueueItem.queue_id, Annotation.annotator, func.coalesce(User.name, User.email, Annotation.annotator),
               func.count())
        .join(QueueItem, QueueItem.trace_id == Annotation.trace_id)
        .outerjoin(User, User.id == Annotation.author_id)
        .where(QueueItem.queue_id.in_(list(queue_ids)))
        .group_by(QueueItem.queue_id, Annotation.annotator, User.name, User.email)
        .order_by(QueueItem.queue_id, func.count().desc()))
    found: dict[int, list[tuple[str, str, int]]] = {queue_id: [] for queue_id in queue_ids}
    for queue_id, annotator, name, n in rows:
        found[queue_id].append((annotator, name or annotator, n))
    return found


def active_annotators(session: Session, queue_ids: Sequence[int]) -> dict[int, list[User]]:
    """queue id -> the people holding one of its items right now."""
    rows = session.execute(
        select(QueueItem.queue_id, User).join(QueueLock, QueueLock.user_id == User.id)
        .join(QueueItem, QueueItem.id == QueueLock.item_id)
        .where(QueueItem.queue_id.in_(list(queue_ids)), QueueLock.locked_until > func.now())
        .distinct().order_by(QueueItem.queue_id, User.id))
    found: dict[int, list[User]] = {queue_id: [] for queue_id in queue_ids}
    for queue_id, user in rows:
        found[queue_id].append(user)
    return found


def queue_ratings(session: Session, queue_id: int) -> list[tuple[int, str, str]]:
    """(trace, annotator, verdict) for every person's annotation of the queue's traces."""
    rows = session.execute(
        select(Annotation.trace_id, Annotation.annotator, Annotation.verdict)
        .join(QueueItem, QueueItem.trace_id == Annotation.trace_id)
        .where(QueueItem.queue_id == queue_id, Annotation.author_id.is_not(None)))
    return [tuple(row) for row in rows]


def disputed_trace_ids(session: Session, queue_id: int, limit: int) -> list[int]:
    return list(session.scalars(text("""
        SELECT a.trace_id FROM annotation a JOIN queue_item qi ON qi.trace_id = a.trace_id
        WHERE qi.queue_id = :queue_id
          AND NOT EXISTS (SELECT 1 FROM adjudication d WHERE d.trace_id = a.trace_id)
        GROUP BY a.trace_id HAVING count(DISTINCT a.verdict) > 1
        ORDER BY a.trace_id LIMIT :limit
    """), {"queue_id": queue_id, "limit": limit}))


def annotations_for_traces(session: Session, trace_ids: Sequence[int]) -> list[tuple[Annotation, list[int]]]:
    """Annotations of these traces with their issue ids, in two queries."""
    annotations = list(session.scalars(select(Annotation).where(Annotation.trace_id.in_(list(trace_ids)))
                                       .order_by(Annotation.trace_id, Annotation.id)))
    links: dict[int, list[int]] = {}
    if annotations:
        for annotation_id, issue_id in session.execute(
                select(AnnotationIssue.annotation_id, AnnotationIssue.issue_id)
                .where(AnnotationIssue.annotation_id.in_([a.id for a in annotations]))):
            links.setdefault(annotation_id, []).append(issue_id)
    return [(a, links.get(a.id, [])) for a in annotations]


def adjudications_for_traces(session: Session, trace_ids: Sequence[int]) -> dict[int, Adjudication]:
    rows = session.scalars(select(Adjudication).where(Adjudication.trace_id.in_(list(trace_ids))))
    return {row.trace_id: row for row in rows}


def labelled_trace_ids(session: Session, project_id: int) -> list[int]:
    """Every trace of the project that has an annotation or an adjudication."""
    return list(session.scalars(text("""
        SELECT trace_id FROM annotation WHERE project_id = :p
        UNION SELECT trace_id FROM adjudication WHERE project_id = :p
        ORDER BY 1
    """), {"p": project_id}))


def items_for_traces(session: Session, queue_id: int, trace_ids: Sequence[int]) -> dict[int, QueueItem]:
    rows = session.scalars(select(QueueItem).where(QueueItem.queue_id == queue_id,
                                                   QueueItem.trace_id.in_(list(trace_ids))))
    return {item.trace_id: item for item in rows}


def settled_trace_ids(session: Session, queue_id: int, limit: int) -> list[int]:
    """The queue's traces settled by adjudication, the latest decision first."""
    return list(session.scalars(
        select(Adjudication.trace_id).join(QueueItem, QueueItem.trace_id == Adjudication.trace_id)
        .where(QueueItem.queue_id == queue_id)
        .order_by(Adjudication.updated_at.desc(), Adjudication.trace_id.desc()).limit(limit)))


def item_for_trace(session: Session, queue_id: int, trace_id: int) -> QueueItem | None:
    return session.scalar(select(QueueItem).where(QueueItem.queue_id == queue_id, QueueItem.trace_id == trace_id))


def fail_feedback_for_traces(session: Session, trace_ids: Sequence[int]) -> dict[int, str]:
    """Why each trace fails (what evaluators learn the 'why' from): an adjudication's note
    when it has one, since it settles the dispute the annotators' feedback argued; else
    the failing annotations' feedback, joined."""
    rows = session.execute(text("""
        SELECT t.id, coalesce(nullif(btrim(d.note), ''), f.feedback)
        FROM unnest(CAST(:ids AS bigint[])) AS t(id)
        LEFT JOIN adjudication d ON d.trace_id = t.id
        LEFT JOIN (SELECT trace_id, string_agg(feedback, E'\\n' ORDER BY id) AS feedback FROM annotation
                   WHERE trace_id = ANY(:ids) AND verdict = 'fail' AND feedback <> ''
                   GROUP BY trace_id) f ON f.trace_id = t.id
        WHERE coalesce(nullif(btrim(d.note), ''), f.feedback) IS NOT NULL
    """), {"ids": list(trace_ids)})
    return {trace_id: feedback for trace_id, feedback in rows}


def annotations_in_queue(session: Session, queue_id: int, user_id: int) -> int:
    """How many items this person annotated while working in the queue (an index-only count)."""
    return session.scalar(select(func.count()).select_from(Annotation).where(
        Annotation.queue_id == queue_id, Annotation.author_id == user_id)) or 0
