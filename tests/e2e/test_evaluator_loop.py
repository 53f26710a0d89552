"""The whole loop with a real server and a real Celery worker:
annotate → generate → activate → new traffic evaluated → issue occurrences and rate."""

import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.slow


def seed(live):
    engine = create_engine(live.database_url)
    with Session(engine) as session:
        factory = Factory(session)
        admin = factory.user("admin")
        project = factory.project("Support")
        key = factory.api_key(project)
        session.commit()
        ids = (admin.email, project.id, key)
    engine.dispose()
    return ids


def signed_in(base_url: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=30)
    client.get("/login")
    csrf = client.cookies["sextant_csrf"]
    response = client.post("/login", data={"email": email, "password": PASSWORD},
                           headers={"x-csrf-token": csrf, "HX-Request": "true"})
    assert response.status_code == 204
    client.headers["x-csrf-token"] = csrf
    return client


def traces(prefix: str, n: int, failing: bool, start: datetime) -> list[dict]:
    output = ("You can get a refund within {i} days, guaranteed." if failing
              else "Refunds follow the policy on our website, case {i}.")
    return [{"id": f"{prefix}-{i}", "input": f"Can I get my money back? #{i}", "output": output.format(i=30 + i),
             "start_time": (start + timedelta(seconds=i)).isoformat()} for i in range(n)]


def wait_for(check, timeout=90.0, interval=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def test_annotate_generate_activate_and_evaluate_new_traffic(live, celery_worker):
    email, project_id, key = seed(live)
    api = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    start = datetime.now(timezone.utc) - timedelta(days=2)
    batch = traces("bad", 16, True, start) + traces("good", 16, False, start)
    assert api.post("/api/v1/traces", json={"traces": batch}).status_code == 200
    for trace in batch:
        failing = trace["id"].startswith("bad")
        response = api.post("/api/v1/annotations", json={
            "trace_external_id": trace["id"], "verdict": "fail" if failing else "pass",
            "feedback": "promises a refund window we do not offer" if failing else "",
            "issues": ["Invented refund window"] if failing else [], "annotator": "qa"})
        assert response.status_code == 201, response.text
    [(issue_id,)] = live.sql("SELECT id FROM issue WHERE title = 'Invented refund window'")

    admin = signed_in(live.url, email)
    generated = admin.post(f"/api/v1/evaluators/generate?project_id={project_id}", json={"issue_id": issue_id})
    assert generated.status_code == 202, generated.text
    evaluator_id = live.sql("SELECT evaluator_id FROM evaluator_version WHERE id = %s", (generated.json()["id"],))[0][0]

    def ready_version():
        body = admin.get(f"/api/v1/evaluators/{evaluator_id}?project_id={project_id}").json()
        version = body["versions"][0]
        assert version["status"] in ("pending", "running", "ready"), version
        return version if version["status"] == "ready" else None

    version = wait_for(ready_version, timeout=180)
    assert version["mcc"] is not None and version["metrics"]["measured_by"] == "cv" and version["metrics"]["n"] > 0
    activated = admin.post(f"/api/v1/evaluators/{evaluator_id}/versions/{version['id']}/activate?project_id={project_id}")
    assert activated.json()["active"] is True

    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    fresh = traces("new-bad", 3, True, now) + traces("new-good", 3, False, now)
    assert api.post("/api/v1/traces", json={"traces": fresh}).status_code == 200

    def all_evaluated():
        rows = live.sql("""SELECT t.external_id, r.verdict FROM eval_result r JOIN trace t ON t.id = r.trace_id
                           WHERE t.external_id LIKE 'new-%%'""")
        return dict(rows) if len(rows) == 6 else None

    verdicts = wait_for(all_evaluated)
    assert {k for k, v in verdicts.items() if v == "fail"} == {f"new-bad-{i}" for i in range(3)}
    [(last_seen,)] = live.sql("SELECT last_seen FROM issue WHERE id = %s", (issue_id,))
    assert last_seen >= now
    rate = admin.get(f"/api/v1/evaluators/{evaluator_id}/failure-rate?project_id={project_id}").json()
    assert rate["n"] == 6 and rate["observed"] == pytest.approx(0.5)
