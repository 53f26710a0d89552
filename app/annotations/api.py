"""JSON routes of the annotations domain, under /api/v1."""

from fastapi import APIRouter, status

from app import loop
from app.accounts.access import ProjectAdmin, ProjectAnnotator, ProjectViewer
from app.annotations import repository, service
from app.annotations.deps import QueueDep
from app.annotations.schemas import (AnnotationCreate, AnnotationRead, LabelRead, QueueCreate, QueueItemsAdd,
                                     QueueItemsAdded, QueueRead)
from app.core.deps import SessionDep
from app.core.errors import NotFound
from app.core.types import Id
from app.traces import repository as traces_repository

router = APIRouter(tags=["annotations"])


@router.get("/queues", response_model=list[QueueRead])
def list_queues(ctx: ProjectViewer, session: SessionDep):
    return repository.queues_of(session, ctx.project.id)


@router.post("/queues", response_model=QueueRead, status_code=status.HTTP_201_CREATED)
def create_queue(body: QueueCreate, ctx: ProjectAdmin, session: SessionDep):
    queue = service.create_queue(session, ctx.project, service.QueueSpec(**body.model_dump()), actor=ctx.user)
    if (queue.filter or queue.cap) and not queue.live:
        service.fill_from_filter(session, queue)
    return queue


@router.post("/queues/{queue_id}/items", response_model=QueueItemsAdded)
def add_queue_items(body: QueueItemsAdd, ctx: ProjectAnnotator, queue: QueueDep, session: SessionDep):
    if body.matching is not None:
        filters = service.trace_filter(service.stored_filter(body.matching))
        return QueueItemsAdded(added=service.add_matching(session, queue, filters, body.limit))
    return QueueItemsAdded(added=service.add_traces(session, queue, body.trace_ids))


@router.post("/annotations", response_model=AnnotationRead, status_code=status.HTTP_201_CREATED)
def create_annotation(body: AnnotationCreate, ctx: ProjectAnnotator, session: SessionDep):
    trace_id = body.trace_id
    if trace_id is None:
        trace = traces_repository.get_trace_by_external_id(session, ctx.project.id, body.trace_external_id)
        if trace is None:
            raise NotFound("No such trace in this project.")
        trace_id = trace.id
    author = ctx.user
    annotator = service.annotator_key(author) if author else f"import:{body.annotator.strip()}"
    judgement = service.Judgement(verdict=body.verdict, feedback=body.feedback, issue_ids=body.issue_ids,
                                  new_issue_titles=body.issues, corrected_output=body.corrected_output)
    annotation = loop.record_annotation(session, ctx.project.id, trace_id, judgement, annotator=annotator,
                                        author=author)
    return AnnotationRead.model_validate(annotation).model_copy(
        update={"issue_ids": repository.issue_ids_of(session, annotation.id)})


@router.get("/traces/{trace_id}/label", response_model=LabelRead)
def trace_label(trace_id: Id, ctx: ProjectViewer, session: SessionDep) -> LabelRead:
    if traces_repository.get_trace(session, ctx.project.id, trace_id) is None:
        raise NotFound("No such trace in this project.")
    label = service.labels_for_traces(session, [trace_id])[trace_id]
    return LabelRead(trace_id=trace_id, verdict=label.verdict, issue_ids=sorted(label.issue_ids),
                     source=label.source.value, reason=label.reason)
