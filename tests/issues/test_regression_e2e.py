"""End to end with a real server and a real Celery worker: a resolved issue gets a new
occurrence through the HTTP API, regresses, and a signed webhook reaches a local receiver."""

import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.issues import service, webhooks
from tests.factories import Factory
from tests.issues.receiver import Receiver, allow_private_webhooks
from tests.live import start_worker, stop_process

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver(monkeypatch):
    allow_private_webhooks(monkeypatch)  # the webhook to 127.0.0.1 is created in this process
    server = Receiver()
    yield server
    server.close()
    monkeypatch.undo()
    from app.core.settings import clear_caches
    clear_caches()


@pytest.fixture
def celery_worker(live):
    """A worker that may deliver to the local receiver (the shared fixture's may not)."""
    process = start_worker({**live.env, "SEXTANT_WEBHOOK_ALLOW_PRIVATE": "1"})
    yield process
    stop_process(process)


def seed(live, receiver_url: str) -> tuple[int, str, str]:
    """A project with an API key and a webhook, committed in the live server's database."""
    engine = create_engine(live.database_url)
    try:
        with Session(engine) as session:
            factory = Factory(session)
            project = factory.project()
            key = factory.api_key(project)
            hook = service.create_webhook(session, project.id, receiver_url)
            session.commit()
            return project.id, key, hook.secret
    finally:
        engine.dispose()


def ingest_and_fail(api: httpx.Client, external_id: str, start: datetime, issue_id: int) -> None:
    ingested = api.post("/api/v1/traces", json={"traces": [{
        "id": external_id, "input": "Can I get my money back after 60 days?",
        "output": "Yes, refunds are possible within 90 days.", "start_time": start.isoformat()}]})
    assert ingested.status_code == 200, ingested.text
    annotated = api.post("/api/v1/annotations", json={
        "trace_external_id": external_id, "verdict": "fail", "feedback": "Invented a 90-day refund window",
        "issue_ids": [issue_id], "annotator": "qa"})
    assert annotated.status_code == 201, annotated.text


def test_a_new_occurrence_regresses_a_resolved_issue_and_a_signed_webhook_arrives(live, celery_worker, receiver):
    project_id, key, secret = seed(live, receiver.url)
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        issue = api.post("/api/v1/issues", json={"title": "Invents a refund policy"}).json()
        ingest_and_fail(api, "before-the-fix", datetime.now(timezone.utc) - timedelta(hours=2), issue["id"])
        resolved = api.post(f"/api/v1/issues/{issue['id']}/transitions",
                            json={"to_state": "resolved", "reason": "Prompt fixed in release 2.4.1"})
        assert resolved.json()["state"] == "resolved", resolved.text

        time.sleep(1.1)  # the new trace starts strictly after the resolution
        ingest_and_fail(api, "after-the-fix", datetime.now(timezone.utc), issue["id"])
        regressed = api.get(f"/api/v1/issues/{issue['id']}").json()
        assert regressed["state"] == "regressed"
        assert regressed["history"][-1]["actor"] == "system"

    got = receiver.wait_for(lambda r: r.headers.get(webhooks.EVENT_HEADER) == "issue.regressed", timeout=60)
    assert webhooks.verify(secret, got.body, got.headers[webhooks.SIGNATURE_HEADER])
    payload = json.loads(got.body)
    assert payload["issue"]["id"] == issue["id"] and payload["issue"]["state"] == "regressed"
    assert payload["issue"]["url"].endswith(f"/projects/{project_id}/issues/{issue['id']}")
    assert payload["transition"]["to"] == "regressed" and payload["transition"]["actor"] == "system"
    # The creation and the resolution were announced too, each signed.
    for kind in ("issue.new", "issue.resolved"):
        other = receiver.wait_for(lambda r, k=kind: r.headers.get(webhooks.EVENT_HEADER) == k)
        assert webhooks.verify(secret, other.body, other.headers[webhooks.SIGNATURE_HEADER])

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = live.sql("SELECT status, attempts, response_code FROM webhook_delivery WHERE kind = 'issue.regressed'")
        if rows and rows[0][0] == "delivered":
            break
        time.sleep(0.2)
    assert rows == [("delivered", 1, 200)]
    assert live.sql("SELECT kind FROM notification ORDER BY kind") == [
        ("issue.new",), ("issue.regressed",), ("issue.resolved",)]
