"""The evaluator pages in-process: list, evaluator page, hand-written form, backfills, a trace's verdicts."""

import html
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import utcnow
from app.core.security import CSRF_HEADER
from app.core.settings import eval_settings
from app.evals import repository, service
from app.evals.generation.examples import as_examples
from app.evals.generation.spec import envelope
from app.evals.models import EvalResult, EvalRun, Evaluator, EvaluatorVersion
from app.issues import service as issues
from tests.evals.test_service import labelled_project
from tests.factories import PASSWORD
from tests.queries import page_statements

RULE = envelope("rule", combine="any", clauses=[
    {"field": "output", "kind": "regex", "pattern": r"refund within \d+ days", "negate": False}])



@pytest.fixture
def admin(client, factory):
    client.login(factory.user("admin").email, PASSWORD)
    return client


@pytest.fixture
def viewer(make_client, factory):
    browser = make_client()
    browser.login(factory.user("viewer").email, PASSWORD)
    return browser


@pytest.fixture
def sent_jobs(db):
    """The evals jobs the requests wrote to the outbox (in their transactions), as (name, args)."""
    from app.core import outbox

    return lambda: outbox.unfinished(db, "evals.")


def version_named(db, name: str) -> EvaluatorVersion:
    return db.scalar(select(EvaluatorVersion).join(Evaluator, Evaluator.id == EvaluatorVersion.evaluator_id)
                     .where(Evaluator.name == name))


def issue_of(db, project, title="Invents a refund window"):
    return issues.create_issue(db, project.id, title, actor="test")


def evaluator(db, project, issue, *, name="Refund window", active=True, origin="generated", versions=1,
              **version_fields) -> tuple[Evaluator, EvaluatorVersion]:
    """An evaluator whose latest version carries the given figures (defaults: a good, ready rule)."""
    row = Evaluator(project_id=project.id, issue_id=issue.id if issue else None, name=name, origin=origin)
    db.add(row)
    db.flush()
    fields = {"status": "ready", "family": "rule", "spec": RULE, "mcc": 0.82, "mcc_ci_low": 0.61,
              "mcc_ci_high": 0.95, "tpr": 0.9, "tnr": 0.93, "train_size": 28, "holdout_size": 12,
              "metrics": {"n": 12, "precision": 0.9, "confusion": {"tp": 5, "fp": 1, "fn": 1, "tn": 5}},
              **version_fields}
    version = None
    for number in range(1, versions + 1):
        version = EvaluatorVersion(evaluator_id=row.id, number=number, **fields)
        db.add(version)
        db.flush()
    if active:
        row.active, row.active_version_id = True, version.id
    db.flush()
    return row, version


def row_html(page: str, attribute: str, value: int) -> str:
    """The table row (or list item) of one item, to check what it says."""
    start = page.index(f'{attribute}="{value}"')
    return page[start:page.index("</tr>", start)]


def text_of(page: str) -> str:
    """What a reader sees: tags dropped, entities decoded, white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# ---------------------------------------------------------------------------
# The list


def test_the_list_shows_held_out_mcc_with_its_interval_and_gating(db, project, admin):
    issue = issue_of(db, project)
    good, _ = evaluator(db, project, issue, name="Good one")
    weak, _ = evaluator(db, project, issue, name="Weak one", mcc=0.55, mcc_ci_low=0.12, mcc_ci_high=0.81)
    blind, _ = evaluator(db, project, issue, name="Blind one", mcc=None, mcc_ci_low=None, mcc_ci_high=None,
                         tpr=0.0, tnr=1.0, metrics={"n": 12, "mcc_undefined_reason": "it never predicts fail"})
    page = admin.get(f"/projects/{project.id}/evaluators").text

    good_row = text_of(row_html(page, "data-evaluator", good.id))
    assert "MCC 0.82 (95% CI 0.61 to 0.95) n = 12" in good_row
    assert "TPR 0.90 · TNR 0.93" in good_row
    assert "fit for gating" in good_row and "not fit for gating" not in good_row
    assert "not fit for gating" in text_of(row_html(page, "data-evaluator", weak.id))
    blind_row = text_of(row_html(page, "data-evaluator", blind.id))
    assert "MCC undefined — it never predicts fail" in blind_row and "not fit for gating" in blind_row
    assert "Invents a refund window" in good_row and "generated" in good_row


def test_the_list_shows_drift_and_the_corrected_failure_rate(db, factory, project, admin):
    issue = issue_of(db, project)
    row, version = evaluator(db, project, issue)
    row.drift = {"status": "drift", "mcc_at_generation": 0.82, "mcc_now": 0.55, "n": 14, "drop": 0.27}
    traces = factory.traces(project, 10, start_time=utcnow() - timedelta(hours=2))
    repository.upsert_results(db, [(version.id, t.id, None, "fail" if i < 4 else "pass", 1.0, "")
                                   for i, t in enumerate(traces)])
    db.flush()
    shown = text_of(row_html(admin.get(f"/projects/{project.id}/evaluators").text, "data-evaluator", row.id))
    assert "MCC dropped from 0.82 to 0.55 on 14 new labels — regenerate" in shown
    # Rogan–Gladen: (0.40 + 0.93 - 1) / (0.90 + 0.93 - 1) = 0.398
    assert "40.0% observed → 39.8%" in shown and "n = 10" in shown


def test_the_list_reads_a_fixed_number_of_queries(db, factory, admin):
    def queries_for(n_evaluators: int) -> int:
        project = factory.project()
        for i in range(n_evaluators):
            issue = issue_of(db, project, f"Issue {i}")
            evaluator(db, project, issue, versions=2)
            issue_of(db, project, f"Uncovered {i}")
        return len(page_statements(db, admin, f"/projects/{project.id}/evaluators"))

    assert queries_for(1) == queries_for(6)


def test_issues_without_an_evaluator_offer_generation_or_say_what_is_missing(db, factory, admin, viewer):
    project, ready_issue, *_ = labelled_project(db, factory, n_fail=9, n_pass=9)
    short_issue = issue_of(db, project, "Rude tone")
    covered = issue_of(db, project, "Already covered")
    evaluator(db, project, covered)
    page = admin.get(f"/projects/{project.id}/evaluators").text
    uncovered = page[page.index('id="uncovered-issues"'):]
    assert "Already covered" not in uncovered
    ready_row = row_html(uncovered, "data-issue", ready_issue.id)
    assert "Generate evaluator" in ready_row and text_of(ready_row).count("9") >= 1
    short_row = row_html(uncovered, "data-issue", short_issue.id)
    assert "Needs 8 more failed examples of this issue." in short_row and "Generate evaluator" not in short_row
    as_viewer = viewer.get(f"/projects/{project.id}/evaluators").text
    assert "Generate evaluator" not in as_viewer and "an admin can generate" in as_viewer


def test_generating_creates_a_pending_version_and_sends_the_job_after_commit(db, factory, admin, sent_jobs):
    project, issue, *_ = labelled_project(db, factory, n_fail=8, n_pass=8)
    response = admin.form(f"/projects/{project.id}/evaluators/generate", {"issue_id": issue.id})
    assert response.status_code == 204, response.text
    version = db.scalar(select(EvaluatorVersion).where(EvaluatorVersion.evaluator_id.in_(
        select(Evaluator.id).where(Evaluator.issue_id == issue.id))))
    assert (version.status, version.number) == ("pending", 1)
    assert response.headers["HX-Redirect"] == f"/projects/{project.id}/evaluators/{version.evaluator_id}"
    assert sent_jobs() == [("evals.generate", [version.id])]
    page = admin.get(response.headers["HX-Redirect"]).text
    assert 'hx-trigger="every 2s"' in page and "queued…" in page


def test_too_few_examples_are_refused_in_place(db, factory, admin, sent_jobs):
    project, issue, *_ = labelled_project(db, factory, n_fail=5, n_pass=9)
    response = admin.form(f"/projects/{project.id}/evaluators/generate", {"issue_id": issue.id})
    assert response.status_code == 422
    assert 'class="generate-form"' in response.text and "Needs 3 more failed examples" in response.text
    assert db.scalar(select(func.count()).select_from(EvaluatorVersion)) == 0 and sent_jobs() == []


# ---------------------------------------------------------------------------
# An evaluator's page


def test_the_page_compares_versions_and_stops_polling_once_ready(db, project, admin):
    issue = issue_of(db, project)
    row, ready = evaluator(db, project, issue, report={
        "cv": {"mcc": 0.77, "search_mcc": 0.84, "n_splits": 5, "n_repeats": 2, "chosen": "rule(field=output)"},
        "refit_on_all": True, "sizes": {"n_examples": 40, "n_refit": 40},
        "leaderboard": [{"name": "rule(field=output)", "cv_mcc": 0.84, "complexity": 1, "cost": 1, "pareto": True}],
        "notes": ["the held-out figure is the one to trust"]})
    pending = EvaluatorVersion(evaluator_id=row.id, number=2, status="pending")
    db.add(pending)
    db.flush()
    url = f"/projects/{project.id}/evaluators/{row.id}"
    page = admin.get(url).text
    v1 = text_of(page[page.index('data-version="1"'):])
    assert "active" in v1 and "28 train · 12 held out" in v1 and "Precision 0.90" in v1
    assert "people: fail 5 1 people: pass 1 5" in v1  # tp fn / fp tn
    assert "Cross-validated estimate 0.77" in v1 and "0.84 leans optimistic" in v1
    assert "Refit on all 40 examples after scoring" in v1
    assert "output matches /refund within \\d+ days/ ⇒ fail" in v1
    assert "the held-out figure is the one to trust" in v1
    assert 'id="versions"' in page and f'hx-get="{url}/versions" hx-trigger="every 2s"' in page

    pending.status, pending.error = "insufficient", "Needs 2 more passing examples."
    db.flush()
    part = admin.get(f"{url}/versions", headers={"HX-Request": "true"}).text
    assert "every 2s" not in part and "Needs 2 more passing examples." in part


def test_an_admin_activates_a_ready_version(db, project, admin):
    issue = issue_of(db, project)
    row, first = evaluator(db, project, issue, active=False, versions=2)
    url = f"/projects/{project.id}/evaluators/{row.id}"
    response = admin.form(f"{url}/versions/{first.id}/activate")
    assert response.status_code == 200, response.text
    assert (row.active, row.active_version_id) == (True, first.id)
    assert 'id="evaluator-summary" hx-swap-oob="true"' in response.text
    assert "active · v2" in text_of(response.text) and "MCC 0.82 (95% CI 0.61 to 0.95)" in text_of(response.text)

    pending = EvaluatorVersion(evaluator_id=row.id, number=3, status="pending")
    db.add(pending)
    db.flush()
    refused = admin.form(f"{url}/versions/{pending.id}/activate")
    assert refused.status_code == 422 and "Only a ready version can be activated" in refused.text
    assert refused.headers["HX-Retarget"] == "#flash"
    assert row.active_version_id == first.id


def test_deactivate_and_sampling_rate(db, project, admin, viewer):
    issue = issue_of(db, project)
    row, _ = evaluator(db, project, issue)
    url = f"/projects/{project.id}/evaluators/{row.id}"
    assert "Deactivate" not in viewer.get(url).text
    assert "inactive" in text_of(admin.form(f"{url}/deactivate").text) and row.active is False

    saved = admin.form(f"{url}/sampling", {"sampling_percent": "25"})
    assert saved.status_code == 200 and "Saved." in saved.text and row.sampling_rate == pytest.approx(0.25)
    refused = admin.form(f"{url}/sampling", {"sampling_percent": "0"})
    assert refused.status_code == 422 and 'id="sampling-form"' in refused.text
    assert "above 0%" in refused.text and 'value="0"' in refused.text and row.sampling_rate == pytest.approx(0.25)


def test_regenerate_makes_a_new_pending_version(db, factory, admin, sent_jobs):
    project, issue, *_ = labelled_project(db, factory, n_fail=8, n_pass=8)
    row, _ = evaluator(db, project, issue)
    manual, _ = evaluator(db, project, issue, origin="manual")
    response = admin.form(f"/projects/{project.id}/evaluators/{row.id}/regenerate")
    assert response.status_code == 200, response.text
    newest = repository.versions_of(db, row.id)[0]
    assert (newest.number, newest.status) == (2, "pending") and sent_jobs() == [("evals.generate", [newest.id])]
    assert "every 2s" in response.text and "disabled" in response.text  # polls; no second click meanwhile

    refused = admin.form(f"/projects/{project.id}/evaluators/{manual.id}/regenerate")
    assert refused.status_code == 422 and len(repository.versions_of(db, manual.id)) == 1


def test_specs_read_as_sentences(db, project, admin):
    issue = issue_of(db, project)
    lacks = envelope("rule", combine="all", clauses=[
        {"field": "output", "kind": "phrase", "pattern": "refund within 0 days"},
        {"field": "tool_calls", "kind": "phrase", "pattern": "lookup_policy", "negate": True}])
    classifier = envelope("classifier", view="output", vocabulary=["w:refund", "w:policy", "c: ref"],
                          idf=[1, 1, 1], coef=[2.5, -1.75, 0.5], intercept=0.0, threshold=0.6)
    structure = envelope("structure", combine="any", context={}, conditions=[
        {"feature": "n_span_errors", "op": ">=", "value": 1}])
    judge = envelope("judge", model="m", prompt="Does it promise a refund window?")
    odd = {"family": "mystery", "detail": "kept as JSON"}
    pages = {}
    for name, spec in {"lacks": lacks, "classifier": classifier, "structure": structure, "judge": judge,
                       "odd": odd}.items():
        row, _ = evaluator(db, project, issue, name=name, spec=spec)
        pages[name] = text_of(admin.get(f"/projects/{project.id}/evaluators/{row.id}").text)
    assert "Fails when all clauses hold" in pages["lacks"]
    assert "output contains refund within 0 days ⇒ fail" in pages["lacks"]
    assert "(0 stands for any number)" in pages["lacks"] and "tool calls lacks lookup_policy ⇒ fail" in pages["lacks"]
    towards_fail = pages["classifier"].split("Towards fail")[1].split("Towards pass")
    assert towards_fail[0].index("“refund”") < towards_fail[0].index("“ ref” (characters)")
    assert "“policy”" in towards_fail[1] and "score reaches 0.600" in pages["classifier"]
    assert "n_span_errors >= 1 ⇒ fail" in pages["structure"]
    assert "Does it promise a refund window?" in pages["judge"]
    assert "&#34;detail&#34;: &#34;kept as JSON&#34;" in admin.get(
        f"/projects/{project.id}/evaluators/{db.scalar(select(Evaluator.id).where(Evaluator.name == 'odd'))}").text


# ---------------------------------------------------------------------------
# Hand-written evaluators


def test_a_hand_written_rule_is_scored_on_every_label(db, factory, admin):
    project, issue, *_ = labelled_project(db, factory)
    assert 'value="judge"' not in admin.get(f"/projects/{project.id}/evaluators/new?issue_id={issue.id}").text
    response = admin.form(f"/projects/{project.id}/evaluators", {
        "issue_id": issue.id, "name": "Refund regex", "kind": "rule", "field": "output", "mode": "contains",
        "match": "regex", "pattern": r"refund within \d+ days"})
    assert response.status_code == 204, response.text
    row = db.scalar(select(Evaluator).where(Evaluator.name == "Refund regex"))
    assert row.origin == "manual" and response.headers["HX-Redirect"].endswith(f"/evaluators/{row.id}")
    page = text_of(admin.get(response.headers["HX-Redirect"]).text)
    assert "MCC 1.00" in page and "n = 40" in page and "scored on all 40 labels" in page
    assert "output matches /refund within \\d+ days/ ⇒ fail" in page and "written by hand" in page


def test_editing_a_hand_written_rule_saves_a_scored_version_to_compare_and_activate(db, factory, admin, viewer):
    project, issue, *_ = labelled_project(db, factory)
    created = admin.form(f"/projects/{project.id}/evaluators", {
        "issue_id": issue.id, "name": "Refund phrase", "kind": "rule", "field": "output", "mode": "contains",
        "match": "phrase", "pattern": "ticket"})
    row = db.scalar(select(Evaluator).where(Evaluator.name == "Refund phrase"))
    url = created.headers["HX-Redirect"]
    assert f"{url}/edit" in admin.get(url).text and f"{url}/edit" not in viewer.get(url).text

    edit = admin.get(f"{url}/edit").text
    assert 'value="ticket"' in edit and "next to version 1" in text_of(edit) and 'name="issue_id"' not in edit
    assert f'hx-post="{url}/versions"' in edit
    refused = admin.form(f"{url}/versions", {"kind": "rule", "field": "output", "mode": "contains",
                                             "match": "regex", "pattern": "refund within ("})
    assert refused.status_code == 422 and "invalid regex" in refused.text and f'hx-post="{url}/versions"' in refused.text
    saved = admin.form(f"{url}/versions", {"kind": "rule", "field": "output", "mode": "contains",
                                           "match": "regex", "pattern": r"refund within \d+ days"})
    assert saved.status_code == 204 and saved.headers["HX-Redirect"] == url
    first, second = sorted(repository.versions_of(db, row.id), key=lambda v: v.number)
    assert (second.number, second.status, second.mcc) == (2, "ready", 1.0) and first.mcc < second.mcc
    assert row.active_version_id is None  # saved, scored, not running until activated
    page = text_of(admin.get(url).text)
    assert "v2" in page and "MCC 1.00" in page


def test_only_hand_written_evaluators_are_edited_by_hand(db, project, admin):
    issue = issue_of(db, project)
    generated, _ = evaluator(db, project, issue)
    db.commit()  # as a request would find it: the refusal rolls back the request's own writes only
    url = f"/projects/{project.id}/evaluators/{generated.id}"
    assert admin.get(f"{url}/edit").status_code == 409
    refused = admin.form(f"{url}/versions", {"kind": "rule", "pattern": "refund"})
    assert refused.status_code == 409 and "regenerating" in refused.text
    assert len(repository.versions_of(db, generated.id)) == 1


def test_a_spec_the_form_cannot_show_is_said_so_on_the_edit_page(db, project, admin):
    issue = issue_of(db, project)
    two_clauses = envelope("rule", combine="all", clauses=[
        {"field": "output", "kind": "phrase", "pattern": "refund"},
        {"field": "output", "kind": "phrase", "pattern": "days"}])
    manual, _ = evaluator(db, project, issue, origin="manual", spec=two_clauses)
    page = admin.get(f"/projects/{project.id}/evaluators/{manual.id}/edit").text
    assert "this form cannot show it" in page and f"/api/v1/evaluators/{manual.id}/versions" in page


def test_new_versions_of_hand_written_evaluators_over_the_api(db, factory, admin):
    project, issue, *_ = labelled_project(db, factory)
    csrf = {CSRF_HEADER: admin.csrf_token()}
    spec = envelope("rule", combine="any", clauses=[{"field": "output", "kind": "phrase", "pattern": "refund"}])
    created = admin.post(f"/api/v1/evaluators?project_id={project.id}", headers=csrf,
                         json={"issue_id": issue.id, "name": "Refund", "spec": spec})
    assert created.status_code == 201, created.text
    versions = f"/api/v1/evaluators/{created.json()['id']}/versions?project_id={project.id}"
    better = envelope("rule", combine="any", clauses=[
        {"field": "output", "kind": "regex", "pattern": r"refund within \d+ days"}])
    added = admin.post(versions, headers=csrf, json={"spec": better})
    assert added.status_code == 201, added.text
    assert (added.json()["number"], added.json()["mcc"]) == (2, 1.0)
    broken = admin.post(versions, headers=csrf, json={"spec": {"family": "nonsense"}})
    assert broken.status_code == 422 and broken.json()["error"]["details"] == {"field": "spec"}


def test_an_issues_labelled_examples_download_as_the_generators_input(db, factory, admin):
    project, issue, failing, passing = labelled_project(db, factory, n_fail=9, n_pass=8)
    issue_page = admin.get(f"/projects/{project.id}/issues/{issue.id}").text
    url = f"/api/v1/issues/{issue.id}/examples.jsonl?project_id={project.id}"
    assert f'href="{url}"' in issue_page
    response = admin.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    assert f'filename="issue-{issue.id}-examples.jsonl"' in response.headers["content-disposition"]
    rows = [json.loads(line) for line in response.text.splitlines()]
    examples = as_examples(rows)  # what `sextant evals fit` reads
    assert [e.label for e in examples] == ["fail"] * 9 + ["pass"] * 8
    assert {e.id for e in examples} == {str(t.id) for t in failing + passing}
    assert all(e.feedback == "promises a refund window we never offered" for e in examples[:9])
    assert "refund within" in examples[0].output and examples[0].group
    other = factory.project()
    assert admin.get(f"/api/v1/issues/{issue.id}/examples.jsonl?project_id={other.id}").status_code == 404


@pytest.mark.parametrize(("fields", "message"), [
    ({"match": "regex", "pattern": "refund within ("}, "invalid regex"),
    ({"field": "shoe_size", "pattern": "refund"}, "unknown field"),
    ({"kind": "judge", "prompt": "Is it rude?"}, "An LLM judge needs SEXTANT_LLM_BASE_URL"),
    ({"match": "regex", "pattern": "  "}, "Write the phrase or pattern to look for."),
])
def test_an_unrunnable_hand_written_evaluator_is_refused_in_place(db, project, admin, fields, message):
    issue = issue_of(db, project)
    db.commit()  # as a request would find it: the refusal rolls back the request's own writes only
    form = {"issue_id": issue.id, "kind": "rule", "field": "output", "mode": "contains", "match": "phrase",
            "pattern": "", **fields}
    response = admin.form(f"/projects/{project.id}/evaluators", form)
    assert response.status_code == 422
    assert response.text.lstrip().startswith('<form class="card form manual-form"') and message in response.text
    if fields.get("pattern"):
        assert f'value="{fields["pattern"]}"' in response.text  # kept as typed
    assert db.scalar(select(func.count()).select_from(Evaluator)) == 0


@pytest.fixture
def llm_configured(monkeypatch):
    for name, value in {"BASE_URL": "http://127.0.0.1:9/v1", "API_KEY": "k", "MODEL": "stub"}.items():
        monkeypatch.setenv(f"SEXTANT_LLM_{name}", value)
    eval_settings.cache_clear()
    yield
    eval_settings.cache_clear()


def test_a_judge_prompt_is_saved_at_once_and_scored_by_the_worker(db, project, admin, llm_configured, sent_jobs):
    issue = issue_of(db, project)  # no labels yet: scoring will say so without calling the LLM
    assert 'value="judge"' in admin.get(f"/projects/{project.id}/evaluators/new").text
    response = admin.form(f"/projects/{project.id}/evaluators", {
        "issue_id": issue.id, "name": "Rude judge", "kind": "judge", "prompt": "Is the <reply> rude?"})
    assert response.status_code == 204, response.text
    version = version_named(db, "Rude judge")
    assert version.spec["prompt"] == "Is the <reply> rude?" and version.spec["model"] == "stub"
    assert version.status == "pending" and sent_jobs() == [("evals.generate", [version.id])]
    page = admin.get(response.headers["HX-Redirect"]).text
    assert "Is the &lt;reply&gt; rude?" in page and 'hx-trigger="every 2s"' in page

    assert service.run_generation(db, version.id).status == "ready"  # the worker's task body
    page = admin.get(response.headers["HX-Redirect"]).text
    assert "Not scored yet: Needs 8 more failed examples" in page


@pytest.fixture
def stub_llm(monkeypatch):
    from tests.llm_stub import StubLLM

    stub = StubLLM().start()
    for name, value in {"BASE_URL": stub.base_url, "API_KEY": "test-key", "MODEL": "stub-model",
                        "DAILY_TRACES": "3"}.items():
        monkeypatch.setenv(f"SEXTANT_LLM_{name}", value)
    eval_settings.cache_clear()
    yield stub
    stub.stop()
    eval_settings.cache_clear()


def test_llm_judges_stop_at_the_daily_cap_and_the_page_says_what_was_left(db, factory, project, admin,
                                                                            stub_llm, redis_client):
    issue = issue_of(db, project)
    judge_spec = envelope("judge", model="stub-model", prompt='Fail when the reply says "guaranteed".',
                          max_output_tokens=50)
    judge, _ = evaluator(db, project, issue, name="Judge", family="judge", spec=judge_spec)
    rule, _ = evaluator(db, project, issue, name="Rule")
    first = factory.traces(project, 5)
    service.evaluate_traces(db, project.id, [t.id for t in first])
    judged = db.scalar(select(func.count()).select_from(EvalResult).where(
        EvalResult.evaluator_version_id == judge.active_version_id))
    assert judged == 3 and stub_llm.judge_calls() == 3  # the cap, not one call more
    assert db.scalar(select(func.count()).select_from(EvalResult).where(
        EvalResult.evaluator_version_id == rule.active_version_id)) == 5  # rules cost nothing: never capped
    service.evaluate_traces(db, project.id, [t.id for t in factory.traces(project, 2)])
    assert stub_llm.judge_calls() == 3

    page = text_of(admin.get(f"/projects/{project.id}/evaluators/{judge.id}").text)
    assert "3 of 3 traces" in page and "4 of this evaluator's left unjudged" in page
    assert "LLM judging today" not in text_of(admin.get(f"/projects/{project.id}/evaluators/{rule.id}").text)


# ---------------------------------------------------------------------------
# Backfills


def test_a_backfill_starts_a_run_over_the_chosen_traces(db, factory, project, admin, sent_jobs):
    issue = issue_of(db, project)
    row, version = evaluator(db, project, issue)
    factory.traces(project, 3, start_time=utcnow() - timedelta(hours=3))
    factory.traces(project, 2, start_time=utcnow() - timedelta(days=40), release="v1")
    url = f"/projects/{project.id}/evaluators/{row.id}"
    response = admin.form(f"{url}/backfills", {"preset": "7d"})
    assert response.status_code == 200, response.text
    run = db.scalar(select(EvalRun).order_by(EvalRun.id.desc()))
    assert run.evaluator_version_ids == [version.id] and run.total == 3 and "start_from" in run.filter
    assert sent_jobs() == [("evals.backfill", [run.id])]
    assert "Started." in response.text and 'id="runs" class="runs" hx-swap-oob="true"' in response.text
    assert f'hx-get="{url}/runs" hx-trigger="every 2s"' in response.text and "0 / 3 traces" in response.text

    admin.form(f"{url}/backfills", {"preset": "all", "release": "v1"})
    assert db.scalar(select(EvalRun).order_by(EvalRun.id.desc())).total == 2
    run.status, run.done = "done", 3
    db.flush()
    runs = admin.get(f"{url}/runs", headers={"HX-Request": "true"}).text
    assert "every 2s" in runs  # the second run is still queued
    assert 'value="100"' in row_html(runs, "data-run", run.id)


def test_an_admin_cancels_a_running_backfill_from_the_run_list(db, factory, project, admin, viewer, sent_jobs):
    issue = issue_of(db, project)
    row, _ = evaluator(db, project, issue)
    factory.traces(project, 3, start_time=utcnow() - timedelta(hours=3))
    url = f"/projects/{project.id}/evaluators/{row.id}"
    admin.form(f"{url}/backfills", {"preset": "7d"})
    run = db.scalar(select(EvalRun).order_by(EvalRun.id.desc()))
    assert f"{url}/runs/{run.id}/cancel" in admin.get(url).text
    assert f"{url}/runs/{run.id}/cancel" not in viewer.get(url).text

    response = admin.form(f"{url}/runs/{run.id}/cancel", {})
    assert response.status_code == 200, response.text
    shown = row_html(response.text, "data-run", run.id)
    assert 'data-status="cancelled"' in shown and "/cancel" not in shown
    assert "every 2s" not in response.text  # nothing left to poll for
    again = admin.form(f"{url}/runs/{run.id}/cancel", {})
    assert again.status_code == 409 and "only a queued or running backfill can be cancelled" in again.text


def test_backfills_start_read_and_cancel_over_the_api(db, factory, project, admin, sent_jobs):
    issue = issue_of(db, project)
    row, version = evaluator(db, project, issue)
    factory.traces(project, 2, start_time=utcnow() - timedelta(hours=1))
    csrf = {CSRF_HEADER: admin.csrf_token()}
    runs = f"/api/v1/eval-runs?project_id={project.id}"
    started = admin.post(runs, json={"evaluator_ids": [row.id], "filter": {}}, headers=csrf)
    assert started.status_code == 202, started.text
    run = started.json()
    assert (run["status"], run["total"], run["evaluator_version_ids"]) == ("queued", 2, [version.id])
    assert sent_jobs() == [("evals.backfill", [run["id"]])]
    one = f"/api/v1/eval-runs/{run['id']}"
    cancelled = admin.post(f"{one}/cancel?project_id={project.id}", headers=csrf)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert admin.get(f"{one}?project_id={project.id}").json()["status"] == "cancelled"
    refused = admin.post(f"{one}/cancel?project_id={project.id}", headers=csrf)
    assert refused.status_code == 409 and refused.json()["error"]["details"] == {"status": "cancelled"}


def test_a_bad_backfill_range_is_refused_in_place(db, project, admin, sent_jobs):
    issue = issue_of(db, project)
    row, _ = evaluator(db, project, issue)
    response = admin.form(f"/projects/{project.id}/evaluators/{row.id}/backfills",
                          {"preset": "custom", "start_from": "yesterday"})
    assert response.status_code == 422 and 'id="backfill-form"' in response.text
    assert "From (UTC) (start_from) must be a date and time like 2026-01-31T14:00" in response.text
    assert db.scalar(select(func.count()).select_from(EvalRun)) == 0 and sent_jobs() == []


# ---------------------------------------------------------------------------
# A trace's verdicts, and hostile text


def test_the_trace_page_loads_its_evaluations(db, factory, project, admin):
    issue = issue_of(db, project)
    row, version = evaluator(db, project, issue, name="Refund window")
    trace, other = factory.traces(project, 2)
    repository.upsert_results(db, [(version.id, trace.id, None, "fail", 0.93, "matched /refund within/ in output")])
    db.flush()
    detail = admin.get(f"/projects/{project.id}/traces/{trace.id}").text
    assert f'hx-get="/projects/{project.id}/traces/{trace.id}/evaluations" hx-trigger="load"' in detail
    part = admin.get(f"/projects/{project.id}/traces/{trace.id}/evaluations").text
    shown = text_of(row_html(part, "data-evaluator", row.id))
    assert "Refund window v1" in shown and "fail" in shown and "0.93" in shown
    assert "matched /refund within/ in output" in shown and 'class="badge badge-danger"' in part
    assert "No evaluator has judged this trace." in admin.get(
        f"/projects/{project.id}/traces/{other.id}/evaluations").text
    stranger = factory.project(organization=factory.other_organization())
    foreign = factory.traces(stranger, 1)[0]
    assert admin.get(f"/projects/{project.id}/traces/{foreign.id}/evaluations").status_code == 404


def test_hostile_text_stays_escaped(db, factory, project, admin):
    hostile = "<script>alert(1)</script>"
    issue = issue_of(db, project, f"Issue {hostile}")
    issue_of(db, project, f"Uncovered {hostile}")
    spec = envelope("rule", combine="any", clauses=[
        {"field": "output", "kind": "regex", "pattern": f"{hostile}\\d"},
        {"field": "output", "kind": "phrase", "pattern": hostile}])
    row, version = evaluator(db, project, issue, name=f"Name {hostile}", spec=spec,
                             report={"notes": [hostile], "leaderboard": [{"name": hostile, "cv_mcc": 0.5}]})
    trace = factory.traces(project, 1)[0]
    trace.name = hostile
    repository.upsert_results(db, [(version.id, trace.id, None, "fail", 1.0, f"matched {hostile} in output")])
    db.flush()
    pages = [admin.get(f"/projects/{project.id}/evaluators").text,
             admin.get(f"/projects/{project.id}/evaluators/{row.id}").text,
             admin.get(f"/projects/{project.id}/traces/{trace.id}/evaluations").text,
             admin.get(f"/projects/{project.id}/evaluators/new").text]
    for page in pages:
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert pages[1].count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6  # name, issue, 2 clauses, note, result


# ---------------------------------------------------------------------------
# No better than chance


def test_evaluators_no_better_than_chance_are_flagged_first_and_never_gate(db, project, admin, monkeypatch):
    issue = issue_of(db, project)
    good, _ = evaluator(db, project, issue, name="Good one")
    below, _ = evaluator(db, project, issue, name="Below zero", mcc=-0.29, mcc_ci_low=-0.47, mcc_ci_high=-0.17)
    straddles, straddling = evaluator(db, project, issue, name="Straddles", active=False,
                                      mcc=0.12, mcc_ci_low=-0.05, mcc_ci_high=0.3)
    constant, _ = evaluator(db, project, issue, name="Constant", mcc=None, mcc_ci_low=-0.2, mcc_ci_high=0.2,
                            metrics={"n": 20, "mcc_undefined_reason": "no predicted failures"})
    page = admin.get(f"/projects/{project.id}/evaluators").text
    order = [int(i) for i in re.findall(r'<tr data-evaluator="(\d+)"', page)]
    assert order.index(good.id) == 3 and set(order[:3]) == {below.id, straddles.id, constant.id}
    assert "no better than chance — retire or refine" not in text_of(row_html(page, "data-evaluator", good.id))
    assert "its 95% interval (-0.47 to -0.17) includes 0" in text_of(row_html(page, "data-evaluator", below.id))
    assert "its 95% interval (-0.05 to 0.30) includes 0" in text_of(row_html(page, "data-evaluator", straddles.id))
    assert "its MCC is undefined (no predicted failures)" in text_of(row_html(page, "data-evaluator", constant.id))
    # Whatever the bar, one no better than chance never gates.
    monkeypatch.setenv("SEXTANT_GATE_MIN_MCC", "-1")
    eval_settings.cache_clear()
    try:
        assert service.fit_for_gating(db.get(EvaluatorVersion, good.active_version_id))
        assert not service.fit_for_gating(db.get(EvaluatorVersion, below.active_version_id))
        assert not service.fit_for_gating(straddling)
    finally:
        monkeypatch.delenv("SEXTANT_GATE_MIN_MCC")
        eval_settings.cache_clear()


def test_a_version_no_better_than_chance_is_activated_only_on_insistence(db, project, admin):
    issue = issue_of(db, project)
    row, weak = evaluator(db, project, issue, active=False, mcc=0.12, mcc_ci_low=-0.05, mcc_ci_high=0.3)
    url = f"/projects/{project.id}/evaluators/{row.id}"
    page = text_of(admin.get(url).text)
    assert "No better than chance: its 95% interval (-0.05 to 0.30) includes 0" in page
    assert "Activate v1 anyway" in page
    refused = admin.form(f"{url}/versions/{weak.id}/activate")
    assert refused.status_code == 409 and "v1 is no better than chance" in refused.text
    assert row.active_version_id is None
    accepted = admin.form(f"{url}/versions/{weak.id}/activate", {"allow_weak": "1"})
    assert accepted.status_code == 200, accepted.text
    assert row.active_version_id == weak.id
    assert "The active version is no better than chance" in text_of(accepted.text)


def test_the_api_says_no_better_than_chance_and_refuses_to_activate_without_allow_weak(db, project, key, client,
                                                                                         admin):
    issue = issue_of(db, project)
    row, weak = evaluator(db, project, issue, active=False, mcc=-0.29, mcc_ci_low=-0.47, mcc_ci_high=-0.17)
    read = client.get(f"/api/v1/evaluators/{row.id}", headers=key).json()
    assert read["no_better_than_chance"] is True and read["fit_for_gating"] is False
    assert read["chance_reason"] == "its 95% interval (-0.47 to -0.17) includes 0"
    assert read["versions"][0]["no_better_than_chance"] is True
    activate = f"/api/v1/evaluators/{row.id}/versions/{weak.id}/activate?project_id={project.id}"
    csrf = {CSRF_HEADER: admin.csrf_token()}
    refused = admin.post(activate, headers=csrf)
    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"reason": read["chance_reason"], "allow_weak": True}
    assert admin.post(f"{activate}&allow_weak=true", headers=csrf).json()["active_version_id"] == weak.id


# ---------------------------------------------------------------------------
# Inspection: the issue page's examples and generate button, an evaluator's failures


def test_the_issue_page_shows_input_and_output_and_generates_an_evaluator(db, factory, admin, sent_jobs):
    project, issue, failing, passing = labelled_project(db, factory, n_fail=8, n_pass=8)
    for trace in failing + passing:
        trace.input = f"<b>Customer {trace.id}</b> asks about a refund"
    db.flush()
    page = admin.get(f"/projects/{project.id}/issues/{issue.id}").text
    failed_section = text_of(page[page.index("Failed examples"):page.index("Passing examples")])
    passing_section = text_of(page[page.index("Passing examples"):page.index("History")])
    assert f"Input <b>Customer {failing[0].id}</b> asks about a refund Output Sure! You can get a refund within 30 days" \
        in failed_section
    assert f"Input <b>Customer {passing[0].id}</b> asks about a refund Output Refunds follow the policy" in passing_section
    assert f"<b>Customer {failing[0].id}</b>" not in page  # escaped, never markup
    assert 'hx-post="/projects/%d/evaluators/generate"' % project.id in page and "Generate evaluator" in page
    generated = admin.form(f"/projects/{project.id}/evaluators/generate", {"issue_id": str(issue.id)})
    version = db.scalar(select(EvaluatorVersion).order_by(EvaluatorVersion.id.desc()))
    assert generated.headers.get("HX-Redirect") == f"/projects/{project.id}/evaluators/{version.evaluator_id}"
    assert sent_jobs() == [("evals.generate", [version.id])]


def test_the_generate_button_is_for_admins_and_says_what_is_missing(db, factory, admin, viewer):
    project, issue, *_ = labelled_project(db, factory, n_fail=5, n_pass=8)
    assert "Generate evaluator" not in viewer.get(f"/projects/{project.id}/issues/{issue.id}").text
    refused = admin.form(f"/projects/{project.id}/evaluators/generate", {"issue_id": str(issue.id)})
    assert "Needs 3 more failed examples of this issue." in text_of(refused.text)


def test_recent_failures_show_input_and_output_and_page_past_twenty(db, factory, project, admin):
    issue = issue_of(db, project)
    row, version = evaluator(db, project, issue)
    traces = factory.traces(project, 25, start_time=utcnow() - timedelta(hours=3))
    repository.upsert_results(db, [(version.id, t.id, None, "fail", 0.9, f"why {t.id}") for t in traces])
    db.flush()
    newest_first = sorted(traces, key=lambda t: t.start_time, reverse=True)
    page = admin.get(f"/projects/{project.id}/evaluators/{row.id}").text
    shown = [int(i) for i in re.findall(r'data-failure="(\d+)"', page)]
    results = dict(db.execute(select(EvalResult.id, EvalResult.trace_id)).all())
    assert [results[i] for i in shown] == [t.id for t in newest_first[:20]]
    first = text_of(page[page.index(f'data-failure="{shown[0]}"'):])
    assert first.startswith(f"{newest_first[0].name or ''}".strip() or "")
    assert f"Input {newest_first[0].input} Output {newest_first[0].output}" in first
    more = re.search(r'hx-get="([^"]+/failures\?[^"]+)"', page).group(1)
    older = admin.get(html.unescape(more), headers={"HX-Request": "true"}).text
    rest = [results[int(i)] for i in re.findall(r'data-failure="(\d+)"', older)]
    assert rest == [t.id for t in newest_first[20:]]
    assert "Older failures" not in older


def test_judge_answers_are_cached_by_prompt_and_trace_content_so_a_rerun_never_pays_twice(
        db, factory, project, stub_llm, redis_client, monkeypatch):
    monkeypatch.setenv("SEXTANT_LLM_DAILY_TRACES", "0")  # no daily cap here
    eval_settings.cache_clear()
    issue = issue_of(db, project)
    spec = envelope("judge", model="stub-model", prompt='Fail when the reply says "answer 1".', max_output_tokens=50)
    judge, version = evaluator(db, project, issue, name="Judge", family="judge", spec=spec)
    traces = factory.traces(project, 3)
    ids = [t.id for t in traces]
    verdicts = service.evaluate_traces(db, project.id, ids, sample=False)
    assert stub_llm.judge_calls() == 3
    service._compiled.cache_clear()  # another worker process: nothing in memory
    again = service.evaluate_traces(db, project.id, ids, sample=False)
    assert stub_llm.judge_calls() == 3 and [o.trace_id for o in again] == [o.trace_id for o in verdicts]
    assert len(verdicts) == 1  # "answer 1" appears in one output only
    traces[0].output = "a new answer"  # changed content: asked again, once
    db.flush()
    service._compiled.cache_clear()
    service.evaluate_traces(db, project.id, ids, sample=False)
    assert stub_llm.judge_calls() == 4
    version.spec = envelope("judge", model="stub-model", prompt='Fail when the reply says "answer 2".',
                            max_output_tokens=50)
    db.flush()
    service._compiled.cache_clear()
    service.evaluate_traces(db, project.id, ids, sample=False)
    assert stub_llm.judge_calls() == 7  # another prompt: every trace asked again


def test_the_run_list_says_when_a_backfill_was_resumed_or_failed_after_its_worker_was_lost(db, factory, project,
                                                                                          admin, sent_jobs):
    from app.evals import tasks

    issue = issue_of(db, project)
    row, _ = evaluator(db, project, issue)
    factory.traces(project, 3, start_time=utcnow() - timedelta(hours=3))
    url = f"/projects/{project.id}/evaluators/{row.id}"
    admin.form(f"{url}/backfills", {"preset": "7d"})
    admin.form(f"{url}/backfills", {"preset": "7d"})
    resumed, failed = db.scalars(select(EvalRun).order_by(EvalRun.id)).all()
    tasks.backfill.on_lost(db, resumed.id, gave_up=False)  # what the relay does when a lease lapses
    tasks.backfill.on_lost(db, failed.id, gave_up=True)
    db.flush()
    page = admin.get(url).text
    assert "resumed after the worker stopped" in row_html(page, "data-run", resumed.id)
    shown = row_html(page, "data-run", failed.id)
    assert 'data-status="failed"' in shown and "failed: worker lost" in shown
