"""Queues: filling, claiming items under concurrency, locks, annotating, labels and agreement."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from app import loop
from app.annotations import repository, service
from app.annotations.models import Annotation, AnnotationRevision, QueueLock
from app.annotations.service import Judgement, QueueSpec
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.issues.models import Issue



@pytest.fixture
def admin(factory):
    return factory.user("admin")


def make_queue(db, project, admin, **spec):
    return service.create_queue(db, project, QueueSpec(name=spec.pop("name", "Review"), **spec), actor=admin)


def annotate(db, project, queue, user, item, verdict="pass", feedback="", **extra):
    return loop.record_annotation(db, project.id, item.trace_id, Judgement(verdict, feedback, **extra),
                                   annotator=service.annotator_key(user), author=user, queue=queue)


def test_fill_from_filter_samples_deterministically_with_a_cap(db, factory, project, admin):
    factory.traces(project, 40, environment="prod")
    factory.traces(project, 10, environment="dev")
    queue = make_queue(db, project, admin, filter={"environment": "prod"}, sampling_rate=0.5, cap=100)
    added = service.fill_from_filter(db, queue)
    assert 8 <= added <= 32  # about half of 40
    assert service.fill_from_filter(db, queue) == 0  # the same sample again: nothing new, nothing twice
    capped = make_queue(db, project, admin, name="Capped", filter={"environment": "prod"}, cap=5)
    assert service.fill_from_filter(db, capped) == 5


def test_add_traces_rejects_other_projects_traces(db, factory, project, admin):
    mine = factory.traces(project, 2)
    theirs = factory.traces(factory.project(), 1)
    queue = make_queue(db, project, admin)
    assert service.add_traces(db, queue, [t.id for t in mine]) == 2
    assert service.add_traces(db, queue, [mine[0].id]) == 0
    with pytest.raises(NotFound):
        service.add_traces(db, queue, [theirs[0].id])


def test_live_queues_sample_new_traces(db, factory, project, admin):
    make_queue(db, project, admin, live=True, filter={"environment": "prod"})
    traces = factory.traces(project, 3, environment="prod") + factory.traces(project, 2, environment="dev")
    assert service.sample_live(db, project.id, [t.id for t in traces]) == 3
    assert service.sample_live(db, project.id, [t.id for t in traces]) == 0


def test_next_item_never_gives_an_item_held_by_someone_else_and_resumes_my_own(db, factory, project, admin):
    factory_users = [factory.user("annotator") for _ in range(2)]
    queue = make_queue(db, project, admin)
    service.add_traces(db, queue, [t.id for t in factory.traces(project, 3)])
    first = service.next_item(db, queue, factory_users[0])
    second = service.next_item(db, queue, factory_users[1])
    assert first.id != second.id
    assert service.next_item(db, queue, factory_users[0]).id == first.id  # still mine


def test_submitting_moves_on_and_items_complete_at_annotators_per_item(db, factory, project, admin):
    ann = [factory.user("annotator") for _ in range(2)]
    queue = make_queue(db, project, admin, annotators_per_item=2)
    service.add_traces(db, queue, [t.id for t in factory.traces(project, 2)])
    a0 = service.next_item(db, queue, ann[0])
    a1 = service.next_item(db, queue, ann[1])
    assert a0.id == a1.id  # two annotators per item: both may work on it
    annotate(db, project, queue, ann[0], a0)
    assert repository.progress(db, queue.id) == (0, 2)
    annotate(db, project, queue, ann[1], a1)
    assert repository.progress(db, queue.id) == (1, 2)
    assert service.next_item(db, queue, ann[0]).id != a0.id


def test_a_lapsed_lock_hands_the_item_to_someone_else(db, factory, project, admin):
    alice, bob = factory.user("annotator"), factory.user("annotator")
    queue = make_queue(db, project, admin)
    service.add_traces(db, queue, [t.id for t in factory.traces(project, 1)])
    item = service.next_item(db, queue, alice)
    assert service.next_item(db, queue, bob) is None
    db.execute(update(QueueLock).values(locked_until=QueueLock.locked_until - timedelta(hours=1)))
    assert service.next_item(db, queue, bob).id == item.id


def test_skip_hides_the_item_from_me_only(db, factory, project, admin):
    alice, bob = factory.user("annotator"), factory.user("annotator")
    queue = make_queue(db, project, admin)
    service.add_traces(db, queue, [t.id for t in factory.traces(project, 2)])
    first = service.next_item(db, queue, alice)
    service.skip(db, queue, first.id, alice)
    assert service.next_item(db, queue, alice).id != first.id
    assert service.next_item(db, queue, bob).id == first.id


def test_fail_needs_feedback_and_edits_keep_history(db, factory, project, admin):
    user = factory.user("annotator")
    queue = make_queue(db, project, admin)
    service.add_traces(db, queue, [t.id for t in factory.traces(project, 1)])
    item = service.next_item(db, queue, user)
    with pytest.raises(Unprocessable, match="Feedback is required"):
        annotate(db, project, queue, user, item, "fail", "   ")
    annotate(db, project, queue, user, item, "pass")
    annotate(db, project, queue, user, item, "fail", "Quotes a refund policy we do not have",
             new_issue_titles=["Invented refund policy"])
    annotation = db.query(Annotation).one()
    assert annotation.verdict == "fail"
    [revision] = db.query(AnnotationRevision).all()
    assert revision.previous["verdict"] == "pass" and revision.editor == service.annotator_key(user)
    issue = db.query(Issue).one()
    assert issue.title == "Invented refund policy" and issue.last_seen is not None
    assert repository.issue_ids_of(db, annotation.id) == [issue.id]


def test_only_queue_members_may_annotate(db, factory, project, admin):
    member, outsider = factory.user("annotator"), factory.user("annotator")
    queue = make_queue(db, project, admin, member_ids=[member.id])
    with pytest.raises(Forbidden):
        service.next_item(db, queue, outsider)
    with pytest.raises(Unprocessable, match="cannot annotate"):
        make_queue(db, project, admin, name="Viewers", member_ids=[factory.user("viewer").id])


def test_labels_follow_adjudication_then_majority(db, factory, project, admin):
    users = [factory.user("annotator") for _ in range(3)]
    [trace] = factory.traces(project, 1)
    issue_id = None
    for user, verdict in zip(users, ["fail", "fail", "pass"]):
        annotation = loop.record_annotation(
            db, project.id, trace.id, Judgement(verdict, "wrong" if verdict == "fail" else "",
                                                new_issue_titles=["Wrong"] if verdict == "fail" else ()),
            annotator=service.annotator_key(user), author=user)
        issue_id = issue_id or (repository.issue_ids_of(db, annotation.id) or [None])[0]
    label = service.labels_for_traces(db, [trace.id])[trace.id]
    assert (label.verdict, label.source.value, set(label.issue_ids)) == ("fail", "majority", {issue_id})
    service.adjudicate(db, project.id, trace.id, "pass", [], "the policy exists", admin)
    label = service.labels_for_traces(db, [trace.id])[trace.id]
    assert (label.verdict, label.source.value) == ("pass", "adjudicated")


def test_queue_agreement_and_disagreements(db, factory, project, admin):
    alice, bob = factory.user("annotator"), factory.user("annotator")
    queue = make_queue(db, project, admin, annotators_per_item=2)
    traces = factory.traces(project, 4)
    service.add_traces(db, queue, [t.id for t in traces])
    verdicts = {alice: ["pass", "pass", "fail", "fail"], bob: ["pass", "fail", "fail", "fail"]}
    for user, choices in verdicts.items():
        for trace, verdict in zip(traces, choices):
            loop.record_annotation(db, project.id, trace.id, Judgement(verdict, "bad" if verdict == "fail" else ""),
                                    annotator=service.annotator_key(user), author=user, queue=queue)
    figures = service.queue_agreement(db, queue)
    assert figures.percent.value == pytest.approx(0.75) and figures.percent.n_items == 4
    from sklearn.metrics import cohen_kappa_score

    expected = cohen_kappa_score(verdicts[alice], verdicts[bob])
    assert figures.kappa.value == pytest.approx(expected)
    assert list(service.disagreements(db, queue)) == [traces[1].id]


def test_concurrent_annotators_never_get_the_same_item_and_none_is_lost(database_url, redis_url):
    """Eight annotators claim and finish items at once, each in its own connection."""
    from app.accounts import service as accounts
    from app.core.db import get_engine
    from tests.factories import Factory

    engine = get_engine()
    with Session(engine) as setup:
        factory = Factory(setup)
        project = factory.project()
        users = [factory.user("annotator") for _ in range(8)]
        queue = make_queue(setup, project, factory.user("admin"), name="Concurrent")
        service.add_traces(setup, queue, [t.id for t in factory.traces(project, 60)])
        setup.commit()
        queue_id, project_id, user_ids = queue.id, project.id, [u.id for u in users]

    claimed: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def work(user_id: int) -> None:
        try:
            while True:
                with Session(engine) as session:
                    queue = repository.get_queue(session, project_id, queue_id)
                    user = session.get(accounts.User, user_id)
                    item = service.next_item(session, queue, user)
                    if item is None:
                        session.commit()
                        return
                    claimed.append((item.id, user_id))
                    loop.record_annotation(session, project_id, item.trace_id, Judgement("pass"),
                                            annotator=service.annotator_key(user), author=user, queue=queue)
                    session.commit()
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(u,)) for u in user_ids]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        item_ids = [item_id for item_id, _ in claimed]
        assert len(item_ids) == len(set(item_ids)) == 60
        with Session(engine) as check:
            assert repository.progress(check, queue_id) == (60, 60)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM project WHERE id = :p"), {"p": project_id})
