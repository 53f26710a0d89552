"""Rules of the annotations domain: queues, claiming items, annotating, agreement, labels.

Never commits. `labels_for_traces` is the one way anything downstream (issues,
evaluators, MCC) learns a trace's human label.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.annotations import agreement, repository
from app.audit import service as audit
from app.annotations.agreement import Label, QueueAgreement, Vote
from app.annotations.models import Adjudication, Annotation, AnnotationQueue, AnnotationRevision, QueueItem
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.settings import annotation_settings
from app.traces import repository as traces_repository
from app.traces import service as traces_service
from app.traces.filters import TraceFilter

MATCHING_LIMIT = 10_000  # "all matching" from the explorer adds at most this many traces
MAX_FEEDBACK = 20_000


def annotator_key(user: User) -> str:
    return f"user:{user.id}"


# ---------------------------------------------------------------------------
# Queues


@dataclass
class QueueSpec:
    name: str
    instructions: str = ""
    annotators_per_item: int = 1
    filter: dict | None = None
    sampling_rate: float = 1.0
    cap: int | None = None
    live: bool = False
    member_ids: Sequence[int] = ()


def _check_spec(spec: QueueSpec) -> None:
    spec.name = accounts.check_name(spec.name, "Queue name")
    if not 1 <= spec.annotators_per_item <= 5:
        raise Unprocessable("Annotators per item must be between 1 and 5.", details={"field": "annotators_per_item"})
    if not 0 < spec.sampling_rate <= 1:
        raise Unprocessable("The sampling rate must be above 0% and at most 100%.", details={"field": "sampling_rate"})
    if spec.cap is not None and spec.cap < 1:
        raise Unprocessable("The cap must be a positive number of traces.", details={"field": "cap"})
    spec.filter = stored_filter(spec.filter or {})


def stored_filter(raw: dict) -> dict:
    """A trace filter as JSON to keep: validated, known fields only (the one trace filter)."""
    return trace_filter(raw).stored()


def trace_filter(stored: dict) -> TraceFilter:
    return traces_service.parse_filter(stored)


def _check_members(session: Session, project_id: int, organization_id: int, user_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(user_ids))
    for user_id in ids:
        user = session.get(User, user_id)
        role = accounts.role_in_organization(session, user, organization_id) if user else None
        if role is None or not role.at_least(Role.annotator):
            raise Unprocessable(f"User {user_id} cannot annotate: members need the annotator or admin role.",
                                details={"field": "member_ids"})
    return ids


def create_queue(session: Session, project, spec: QueueSpec, *, actor: User) -> AnnotationQueue:
    _check_spec(spec)
    if any(q.name == spec.name for q in repository.queues_of(session, project.id)):
        raise Conflict(f"A queue named {spec.name!r} already exists.", details={"field": "name"})
    queue = AnnotationQueue(project_id=project.id, name=spec.name, instructions=spec.instructions or "",
                            annotators_per_item=spec.annotators_per_item, filter=spec.filter,
                            sampling_rate=spec.sampling_rate, cap=spec.cap, live=spec.live,
                            created_by_id=actor.id)
    session.add(queue)
    session.flush()
    repository.set_members(session, queue.id,
                           _check_members(session, project.id, project.organization_id, spec.member_ids))
    return queue


def update_queue(session: Session, project, queue: AnnotationQueue, spec: QueueSpec) -> AnnotationQueue:
    _check_spec(spec)
    for name in ("name", "instructions", "annotators_per_item", "filter", "sampling_rate", "cap", "live"):
        setattr(queue, name, getattr(spec, name))
    repository.set_members(session, queue.id,
                           _check_members(session, project.id, project.organization_id, spec.member_ids))
    session.flush()
    return queue


def get_queue(session: Session, project_id: int, queue_id: int) -> AnnotationQueue:
    queue = repository.get_queue(session, project_id, queue_id)
    if queue is None:
        raise NotFound("No such queue in this project.")
    return queue


def fill_from_filter(session: Session, queue: AnnotationQueue) -> int:
    """Sample the queue's saved filter into it (up to its cap); returns traces added."""
    ids = traces_repository.matching_trace_ids(queue.project_id, trace_filter(queue.filter))
    return repository.add_sampled_items(session, queue.id, ids, queue.sampling_rate, queue.cap)


def add_traces(session: Session, queue: AnnotationQueue, trace_ids: Sequence[int]) -> int:
    """Add chosen traces (a selection, or the API); ids must belong to the queue's project."""
    wanted = sorted(set(trace_ids))
    found = repository.existing_trace_ids(session, queue.project_id, wanted)
    if len(found) != len(wanted):
        missing = sorted(set(wanted) - set(found))[:10]
        raise NotFound(f"No such trace in this project: {', '.join(map(str, missing))}.")
    return repository.add_items(session, queue.id, found)


def add_matching(session: Session, queue: AnnotationQueue, filters: TraceFilter, limit: int) -> int:
    """"All matching" from the explorer: every trace the filter selects (up to `limit`)."""
    ids = traces_repository.matching_trace_ids(queue.project_id, filters)
    return repository.add_sampled_items(session, queue.id, ids, 1.0, limit)


def sample_live(session: Session, project_id: int, trace_ids: Sequence[int]) -> int:
    """Offer new or updated traces to the project's live queues (deterministic sample)."""
    added = 0
    for queue in repository.live_queues(session, project_id):
        ids = traces_repository.matching_trace_ids(project_id, trace_filter(queue.filter))
        ids = ids.where(traces_repository.Trace.id.in_(list(trace_ids)))
        added += repository.add_sampled_items(session, queue.id, ids, queue.sampling_rate, None)
    return added


# ---------------------------------------------------------------------------
# Working through a queue


def check_can_annotate(session: Session, queue: AnnotationQueue, user: User) -> None:
    members = repository.member_ids(session, queue.id)
    if members and user.id not in members:
        raise Forbidden("You are not an annotator of this queue.")


def next_item(session: Session, queue: AnnotationQueue, user: User) -> QueueItem | None:
    """The item this annotator should do now: the one they hold, else a newly claimed one."""
    check_can_annotate(session, queue, user)
    key = annotator_key(user)
    lock_seconds = annotation_settings().queue_lock_seconds
    item_id = repository.held_item_id(session, queue.id, user.id, key)
    if item_id is not None:
        repository.lock_item(session, item_id, user.id, lock_seconds)
    else:
        item_id = repository.claim_next_item_id(session, queue.id, user.id, key, queue.annotators_per_item,
                                                lock_seconds)
    return repository.get_item(session, queue.id, item_id) if item_id else None


def open_item(session: Session, queue: AnnotationQueue, item_id: int, user: User) -> QueueItem:
    """An item opened directly (e.g. going back to edit): renews this annotator's hold."""
    check_can_annotate(session, queue, user)
    item = repository.get_item(session, queue.id, item_id)
    if item is None:
        raise NotFound("No such item in this queue.")
    repository.lock_item(session, item.id, user.id, annotation_settings().queue_lock_seconds)
    return item


def renew_lock(session: Session, queue: AnnotationQueue, item_id: int, user: User) -> None:
    open_item(session, queue, item_id, user)


def skip(session: Session, queue: AnnotationQueue, item_id: int, user: User) -> None:
    item = open_item(session, queue, item_id, user)
    repository.skip_item(session, item.id, user.id)
    repository.release_lock(session, item.id, user.id)


def skipped_items(session: Session, queue: AnnotationQueue, user: User) -> list:
    """The items I skipped and nobody has finished yet: the way back to them."""
    check_can_annotate(session, queue, user)
    return repository.skipped_items(session, queue.id, user.id)


def unskip(session: Session, queue: AnnotationQueue, item_id: int, user: User) -> QueueItem:
    """Take a skipped item back: it is mine to judge now, and claims offer it to me again."""
    item = open_item(session, queue, item_id, user)
    repository.unskip_item(session, item.id, user.id)
    return item


def previous_item(session: Session, queue: AnnotationQueue, user: User, before_item_id: int | None) -> int | None:
    before = None
    if before_item_id is not None:
        item = repository.get_item(session, queue.id, before_item_id)
        mine = repository.annotation_of(session, item.trace_id, annotator_key(user)) if item else None
        before = mine.updated_at if mine else None
    return repository.previous_item_id(session, queue.id, annotator_key(user), before)


# ---------------------------------------------------------------------------
# Annotating


@dataclass
class Judgement:
    verdict: str
    feedback: str = ""
    issue_ids: Sequence[int] = ()
    new_issue_titles: Sequence[str] = ()
    corrected_output: str | None = None
    seconds_spent: int | None = None  # measured by the workbench; None when unknown


def check_judgement(session: Session, project_id: int, trace_id: int, judgement: Judgement) -> None:
    """Refuse a judgement that cannot be stored (before its failure modes are looked up)."""
    if judgement.verdict not in agreement.VERDICTS:
        raise Unprocessable("Choose a verdict: pass or fail.", details={"field": "verdict"})
    judgement.feedback = (judgement.feedback or "").strip()
    if judgement.verdict == agreement.FAIL and not judgement.feedback:
        raise Unprocessable("Feedback is required when a trace fails: say what is wrong.",
                            details={"field": "feedback"})
    if len(judgement.feedback) > MAX_FEEDBACK:
        raise Unprocessable(f"Feedback is limited to {MAX_FEEDBACK} characters.", details={"field": "feedback"})
    if traces_repository.get_trace(session, project_id, trace_id) is None:
        raise NotFound("No such trace in this project.")


def annotate(session: Session, project_id: int, trace_id: int, judgement: Judgement, issue_ids: Sequence[int], *,
             annotator: str, author: User | None, queue: AnnotationQueue | None = None) -> Annotation:
    """Record (or edit, keeping the previous version) one annotator's judgement of a trace, once
    `check_judgement` passed; `issue_ids` are its failure modes, found in the project."""
    annotation = repository.annotation_of(session, trace_id, annotator)
    if annotation is None:
        annotation = Annotation(project_id=project_id, trace_id=trace_id, annotator=annotator,
                                author_id=author.id if author else None)
        session.add(annotation)
    else:
        _keep_revision(session, annotation, editor=annotator)
    annotation.verdict = judgement.verdict
    annotation.feedback = judgement.feedback
    annotation.corrected_output = judgement.corrected_output or None
    annotation.queue_id = queue.id if queue else annotation.queue_id
    annotation.updated_at = utcnow()
    if judgement.seconds_spent is not None:
        annotation.seconds_spent = (annotation.seconds_spent or 0) + judgement.seconds_spent
    session.flush()
    repository.set_issue_ids(session, annotation.id, issue_ids if judgement.verdict == agreement.FAIL else [])
    repository.refresh_item_counts(session, trace_id)
    if author is not None and queue is not None:
        repository.release_queue_lock(session, queue.id, trace_id, author.id)
    return annotation


def _keep_revision(session: Session, annotation: Annotation, *, editor: str) -> None:
    previous = {"verdict": annotation.verdict, "feedback": annotation.feedback,
                "corrected_output": annotation.corrected_output,
                "issue_ids": repository.issue_ids_of(session, annotation.id),
                "updated_at": annotation.updated_at.isoformat()}
    session.add(AnnotationRevision(annotation_id=annotation.id, editor=editor, previous=previous))


def adjudicate(session: Session, project_id: int, trace_id: int, verdict: str, issue_ids: Sequence[int],
               note: str, adjudicator: User) -> Adjudication:
    """Settle a trace's label; `issue_ids` (for a fail) are failure modes found in the project."""
    if verdict not in agreement.VERDICTS:
        raise Unprocessable("Choose a verdict: pass or fail.", details={"field": "verdict"})
    if traces_repository.get_trace(session, project_id, trace_id) is None:
        raise NotFound("No such trace in this project.")
    ids = sorted(issue_ids) if verdict == agreement.FAIL else []
    found = repository.adjudications_for_traces(session, [trace_id]).get(trace_id)
    previous = None
    if found is None:
        found = Adjudication(project_id=project_id, trace_id=trace_id)
        session.add(found)
    else:
        previous = _settlement(found)
    found.verdict, found.issue_ids, found.note = verdict, ids, (note or "").strip()
    found.adjudicator_id, found.updated_at = adjudicator.id, utcnow()
    session.flush()
    # Settling a dispute changes a label that issues and evaluators learn from: audited,
    # with what it replaced, so a revision never erases the earlier decision.
    audit.record(session, actor=f"user:{adjudicator.id}", project_id=project_id, target=f"trace:{trace_id}",
                 action="adjudication.revised" if previous else "adjudication.created",
                 data={**_settlement(found), "previous": previous})
    return found


def _settlement(adjudication: Adjudication) -> dict:
    return {"verdict": adjudication.verdict, "issue_ids": list(adjudication.issue_ids), "note": adjudication.note,
            "adjudicator_id": adjudication.adjudicator_id, "at": adjudication.updated_at.isoformat()}


def check_can_settle(queue: AnnotationQueue, item: QueueItem, early: bool) -> None:
    """A dispute is settled once every vote is in, unless the admin chooses to settle early:
    a missing vote could still change what the annotators' majority says."""
    if not item.done and not early:
        missing = queue.annotators_per_item - item.annotation_count
        raise Conflict(f"This item still waits for {missing} more vote{'s' if missing > 1 else ''}: "
                       "settle it once they are in, or tick “settle now”.", details={"field": "early"})


# ---------------------------------------------------------------------------
# Labels and agreement


def labels_for_traces(session: Session, trace_ids: Sequence[int]) -> dict[int, Label]:
    """The human label of each trace (adjudicated > unanimous > majority; ties unresolved)."""
    votes: dict[int, list[Vote]] = {t: [] for t in trace_ids}
    for annotation, issue_ids in repository.annotations_for_traces(session, trace_ids):
        votes[annotation.trace_id].append(Vote(annotation.annotator, annotation.verdict,
                                               annotation.updated_at, frozenset(issue_ids)))
    adjudications = repository.adjudications_for_traces(session, trace_ids)
    return {trace_id: agreement.human_label(
        trace_votes, _adjudication(adjudications.get(trace_id))) for trace_id, trace_votes in votes.items()}


def _adjudication(row: Adjudication | None) -> agreement.Adjudication | None:
    return agreement.Adjudication(row.verdict, frozenset(row.issue_ids)) if row else None


def project_labels(session: Session, project_id: int) -> dict[int, Label]:
    return labels_for_traces(session, repository.labelled_trace_ids(session, project_id))


@dataclass
class QueueProgress:
    done: int
    total: int
    by_annotator: list[tuple[str, str, int]]
    active: list[User]


def progress(session: Session, queue: AnnotationQueue) -> QueueProgress:
    return progress_of_queues(session, [queue.id])[queue.id]


def progress_of_queues(session: Session, queue_ids: Sequence[int]) -> dict[int, QueueProgress]:
    """Progress of many queues in a fixed number of queries (the queue list)."""
    counts = repository.progress_of_queues(session, queue_ids)
    by_annotator = repository.progress_by_annotator(session, queue_ids)
    active = repository.active_annotators(session, queue_ids)
    return {queue_id: QueueProgress(*counts[queue_id], by_annotator[queue_id], active[queue_id])
            for queue_id in queue_ids}


def queue_agreement(session: Session, queue: AnnotationQueue) -> QueueAgreement:
    return agreement.queue_agreement(repository.queue_ratings(session, queue.id))


def disagreements(session: Session, queue: AnnotationQueue, limit: int = 100) -> dict[int, Label]:
    return labels_for_traces(session, repository.disputed_trace_ids(session, queue.id, limit))


# ---------------------------------------------------------------------------
# What the workbench shows


def shown_conversation(session: Session, trace) -> list[dict]:
    """The messages an annotator judges, in the chat partial's normalised shape (what an
    evaluator reads is `traces.service.evaluated_messages`).

    The last LLM call's prompt and reply hold the whole exchange up to the answer
    being judged; a trace without LLM spans (or without stored messages) shows its
    own input and output as one user turn and one assistant turn. Only that call's
    messages are read, not every span of the trace: this is on the next-item path.
    """
    last_llm = traces_repository.last_llm_spans(session, [trace.id]).get(trace.id)
    messages = _llm_messages(*last_llm) if last_llm else []
    if messages:
        return messages
    turns = (("user", trace.input), ("assistant", trace.output))
    return [_plain_message(role, text) for role, text in turns if text]


def _llm_messages(system: str | None, inputs, outputs) -> list[dict]:
    messages = _message_dicts(inputs)
    if system and not any(m.get("role") == "system" for m in messages):
        messages.insert(0, _plain_message("system", system))
    return messages + _message_dicts(outputs)


def _message_dicts(value) -> list[dict]:
    # Stored JSON came from a client: keep message-shaped items only.
    return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []


def _plain_message(role: str, content: str) -> dict:
    return {"role": role, "content": content, "tool_calls": [], "tool_call_id": None, "name": None}


def check_queue_name_free(session: Session, project_id: int, name: str, queue_id: int | None = None) -> None:
    """A renamed queue may not take another queue's name (the database would refuse it later)."""
    wanted = accounts.check_name(name, "Queue name")
    if any(q.name == wanted and q.id != queue_id for q in repository.queues_of(session, project_id)):
        raise Conflict(f"A queue named {wanted!r} already exists.", details={"field": "name"})


def my_annotation(session: Session, item: QueueItem, user: User) -> tuple[Annotation | None, list[int]]:
    """This annotator's current judgement of the item's trace, with its failure modes."""
    annotation = repository.annotation_of(session, item.trace_id, annotator_key(user))
    return annotation, repository.issue_ids_of(session, annotation.id) if annotation else []


def queue_item_for_trace(session: Session, queue: AnnotationQueue, trace_id: int) -> QueueItem:
    item = repository.item_for_trace(session, queue.id, trace_id)
    if item is None:
        raise NotFound("No such trace in this queue.")
    return item
