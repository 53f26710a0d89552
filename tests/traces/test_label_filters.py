"""Filters on what people and evaluators said about traces: the one human label (adjudication, else
the strict majority, a tie is no label), an evaluator's verdicts, and an issue's traces. Each is
checked in the explorer, the API and a queue's fill against a reference worked out in Python from
the rows the test wrote (for the human label, `labels_for_traces`, the rule issues already use)."""

import random
import re

import pytest
from sqlalchemy import select

from app.annotations import service as annotations
from app.annotations.models import Adjudication, Annotation, AnnotationIssue, QueueItem
from app.annotations.service import QueueSpec
from app.evals.models import EvalResult, Evaluator, EvaluatorVersion
from app.issues import service as issues
from tests.traces.test_views import auth, viewer  # noqa: F401 (the explorer's fixtures)

TRACES = 48


def annotate(db, project, trace_id: int, annotator: str, verdict: str, issue_ids=()) -> None:
    row = Annotation(project_id=project.id, trace_id=trace_id, annotator=annotator, verdict=verdict,
                     feedback="wrong" if verdict == "fail" else "")
    db.add(row)
    db.flush()
    db.add_all(AnnotationIssue(annotation_id=row.id, issue_id=issue_id) for issue_id in issue_ids)


def adjudicate(db, project, trace_id: int, verdict: str, issue_ids=()) -> None:
    db.add(Adjudication(project_id=project.id, trace_id=trace_id, verdict=verdict, issue_ids=list(issue_ids)))


def evaluator_with_results(db, project, issue, verdicts: dict[int, str], *, active=True, old=None):
    """An evaluator whose active version judged `verdicts`; an older version judged `old`."""
    row = Evaluator(project_id=project.id, issue_id=issue.id, name=f"Evaluator of {issue.title}")
    db.add(row)
    db.flush()
    versions = []
    for number, judged in enumerate((old or {}, verdicts), start=1):
        version = EvaluatorVersion(evaluator_id=row.id, number=number, status="ready", family="rule", spec={})
        db.add(version)
        db.flush()
        versions.append(version)
        db.add_all(EvalResult(evaluator_version_id=version.id, trace_id=t, verdict=v, trace_start=start)
                   for (t, start), v in ((key, judged[key[0]]) for key in _starts(db, judged)))
    row.active, row.active_version_id = active, versions[-1].id
    db.flush()
    return row


def _starts(db, judged: dict[int, str]):
    from app.traces.models import Trace

    return db.execute(select(Trace.id, Trace.start_time).where(Trace.id.in_(list(judged)))).all()


@pytest.fixture
def judged(db, factory, project):
    """48 traces: hand-made cases first, then random annotations, adjudications and verdicts."""
    rng = random.Random(7)
    ids = [t.id for t in factory.traces(project, TRACES)]
    refunds = issues.create_issue(db, project.id, "Invents a refund window", actor="test")
    tone = issues.create_issue(db, project.id, "Rude tone", actor="test")
    disputed, tie, overruled, unanimous, overruled_pass = ids[:5]
    for n, verdict in enumerate(("fail", "fail", "pass")):  # disputed: a majority fail
        annotate(db, project, disputed, f"import:{n}", verdict, [refunds.id] if verdict == "fail" else [])
    annotate(db, project, tie, "import:0", "fail", [refunds.id])  # a tie: no label
    annotate(db, project, tie, "import:1", "pass")
    annotate(db, project, overruled, "import:0", "fail", [refunds.id])  # two fails, adjudicated a pass
    annotate(db, project, overruled, "import:1", "fail", [refunds.id])
    adjudicate(db, project, overruled, "pass")
    annotate(db, project, unanimous, "import:0", "fail", [tone.id])
    annotate(db, project, overruled_pass, "import:0", "pass")  # a pass adjudicated a fail of refunds
    annotate(db, project, overruled_pass, "import:1", "pass")
    adjudicate(db, project, overruled_pass, "fail", [refunds.id])
    for trace_id in ids[5:]:
        for n in range(rng.choice((0, 0, 1, 2, 3, 4))):
            verdict = rng.choice(("fail", "pass"))
            named = [i.id for i in (refunds, tone) if verdict == "fail" and rng.random() < 0.6]
            annotate(db, project, trace_id, f"import:{n}", verdict, named)
        if rng.random() < 0.15:
            adjudicate(db, project, trace_id, rng.choice(("fail", "pass")),
                       [i.id for i in (refunds, tone) if rng.random() < 0.5])
    db.flush()

    def verdicts(share: float) -> dict[int, str]:
        return {t: rng.choice(("fail", "pass", "error")) for t in ids if rng.random() < share}

    current, older = verdicts(0.7), verdicts(0.7)
    finder = evaluator_with_results(db, project, refunds, current, old=older)
    idle = evaluator_with_results(db, project, refunds, verdicts(0.7), active=False)
    toner = evaluator_with_results(db, project, tone, verdicts(0.5))
    return {"ids": ids, "issues": (refunds, tone), "evaluators": (finder, idle, toner), "current": current,
            "cases": (disputed, tie, overruled, unanimous, overruled_pass)}


def explorer_ids(client, project, query: str) -> set[int]:
    ids: set[int] = set()
    url = f"/projects/{project.id}/traces?{query}"
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.text
        ids |= {int(i) for i in re.findall(r'href="/projects/\d+/traces/(\d+)"', page.text)}
        more = re.search(r'hx-get="([^"]*cursor=[^"]*)"', page.text)
        url = more.group(1).replace("&amp;", "&") if more else None
    return ids


def api_ids(client, auth, query: str) -> set[int]:
    response = client.get(f"/api/v1/traces?{query}&limit=500", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return {item["id"] for item in response.json()["items"]}


def queue_ids(db, project, admin, stored: dict) -> set[int]:
    queue = annotations.create_queue(db, project, QueueSpec(name=f"q {stored}", filter=stored), actor=admin)
    annotations.fill_from_filter(db, queue)
    return set(db.scalars(select(QueueItem.trace_id).where(QueueItem.queue_id == queue.id)))


def test_failed_and_passed_mean_the_one_human_label(db, viewer, auth, factory, project, judged):
    labels = annotations.labels_for_traces(db, judged["ids"])
    disputed, tie, overruled, unanimous, overruled_pass = judged["cases"]
    # The hand-made cases, by the rule as written.
    assert [labels[t].verdict for t in judged["cases"]] == ["fail", None, "pass", "fail", "fail"]
    admin = factory.user("admin")
    for verdict in ("fail", "pass"):
        expected = {t for t, label in labels.items() if label.verdict == verdict}
        assert explorer_ids(viewer, project, f"annotated={verdict}") == expected, verdict
        assert api_ids(viewer, auth, f"annotated={verdict}") == expected, verdict
        assert queue_ids(db, project, admin, {"annotated": verdict}) == expected, verdict
    failed = explorer_ids(viewer, project, "annotated=fail")
    passed = explorer_ids(viewer, project, "annotated=pass")
    assert not failed & passed  # a disputed trace is never under both
    assert disputed in failed and overruled in passed and overruled_pass in failed
    assert tie not in failed | passed
    annotated = {t for t, label in labels.items() if label.n_fail + label.n_pass}
    assert explorer_ids(viewer, project, "annotated=yes") == annotated


def test_an_evaluators_verdicts(db, viewer, auth, project, judged):
    finder, idle, _ = judged["evaluators"]
    current = judged["current"]
    for verdict in ("fail", "pass"):
        expected = {t for t, v in current.items() if v == verdict}
        query = f"evaluator={finder.id}&evaluator_verdict={verdict}"
        assert explorer_ids(viewer, project, query) == expected
        assert api_ids(viewer, auth, query) == expected
    assert explorer_ids(viewer, project, f"evaluator={finder.id}") == set(current)
    # Sanity of the reference: the older version's and the other evaluators' verdicts differ.
    older = dict(db.execute(select(EvalResult.trace_id, EvalResult.verdict).join(
        EvaluatorVersion, EvaluatorVersion.id == EvalResult.evaluator_version_id).where(
        EvaluatorVersion.evaluator_id == finder.id, EvaluatorVersion.number == 1)).all())
    assert older != current
    assert explorer_ids(viewer, project, f"evaluator={idle.id}&evaluator_verdict=fail") != \
        {t for t, v in current.items() if v == "fail"}
    assert (explorer_ids(viewer, project, f"evaluator={finder.id}&evaluator_verdict=fail")
            | explorer_ids(viewer, project, f"evaluator={finder.id}&evaluator_verdict=pass")
            < set(current))  # verdicts in error are neither


def test_an_issues_traces_are_its_labels_and_its_active_evaluators_failures(db, viewer, auth, factory, project,
                                                                            judged):
    labels = annotations.labels_for_traces(db, judged["ids"])
    refunds, tone = judged["issues"]
    finder, idle, toner = judged["evaluators"]
    flagged = {e.id: {t for t, v in db.execute(select(EvalResult.trace_id, EvalResult.verdict).where(
        EvalResult.evaluator_version_id == e.active_version_id)).all() if v == "fail"} for e in (finder, toner)}
    expected = {refunds.id: {t for t, label in labels.items() if refunds.id in label.issue_ids} | flagged[finder.id],
                tone.id: {t for t, label in labels.items() if tone.id in label.issue_ids} | flagged[toner.id]}
    admin = factory.user("admin")
    for issue in (refunds, tone):
        found = explorer_ids(viewer, project, f"issue={issue.id}")
        assert len(found) == len(expected[issue.id]) and found == expected[issue.id], issue.title
        assert api_ids(viewer, auth, f"issue={issue.id}") == expected[issue.id]
        assert queue_ids(db, project, admin, {"issue": issue.id}) == expected[issue.id]
    disputed, tie, overruled, _, overruled_pass = judged["cases"]
    only_people = explorer_ids(viewer, project, f"issue={refunds.id}") - flagged[finder.id]
    assert {disputed, overruled_pass} <= only_people | flagged[finder.id]
    assert tie not in only_people and overruled not in only_people
    # The inactive evaluator's failures count for nothing on their own.
    idle_only = {t for t, v in db.execute(select(EvalResult.trace_id, EvalResult.verdict).where(
        EvalResult.evaluator_version_id == idle.active_version_id)).all() if v == "fail"} - expected[refunds.id]
    assert idle_only and not idle_only & explorer_ids(viewer, project, f"issue={refunds.id}")


def test_the_evaluator_and_issue_choices_are_the_projects(db, viewer, project, judged):
    page = viewer.get(f"/projects/{project.id}/traces?issue={judged['issues'][0].id}").text
    assert re.search(rf'<option value="{judged["issues"][0].id}"\s+selected>#{judged["issues"][0].id} Invents',
                     page)
    for evaluator in judged["evaluators"]:
        assert f'<option value="{evaluator.id}"' in page


def test_without_evaluators_or_issues_the_explorer_offers_no_such_choice(viewer, factory, project):  # noqa: F811
    factory.traces(project, 2)
    page = viewer.get(f"/projects/{project.id}/traces").text
    assert '<select name="annotated">' in page
    for name in ("evaluator", "evaluator_verdict", "issue"):
        assert f'<select name="{name}">' not in page
