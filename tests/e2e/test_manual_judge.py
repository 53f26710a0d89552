"""A hand-written LLM judge, scored by a real worker against a local OpenAI-compatible stub."""

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.e2e.test_evaluator_loop import seed, signed_in, traces, wait_for
from tests.live import start_server, start_worker, stop_process
from tests.llm_stub import StubLLM

pytestmark = [pytest.mark.slow, pytest.mark.live_server, pytest.mark.worker]


@pytest.fixture
def llm_stack(live):
    """A server and a worker of the live database, both configured with the stub LLM."""
    stub = StubLLM().start()
    env = {**live.env, "SEXTANT_LLM_BASE_URL": stub.base_url, "SEXTANT_LLM_API_KEY": "test-key",
           "SEXTANT_LLM_MODEL": "stub-model"}
    server, url = start_server(env)
    worker = start_worker(env)
    yield stub, url
    stop_process(worker)
    stop_process(server)
    stub.stop()


def test_a_hand_written_judge_is_answered_at_once_and_scored_in_the_background(live, llm_stack):
    stub, url = llm_stack
    email, project_id, key = seed(live)
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    batch = traces("bad", 10, True, datetime.now(timezone.utc) - timedelta(days=1))
    batch += traces("good", 10, False, datetime.now(timezone.utc) - timedelta(days=1))
    assert api.post("/api/v1/traces", json={"traces": batch}).status_code == 200
    for trace in batch:
        failing = trace["id"].startswith("bad")
        assert api.post("/api/v1/annotations", json={
            "trace_external_id": trace["id"], "verdict": "fail" if failing else "pass",
            "feedback": "promises a refund window" if failing else "",
            "issues": ["Invented refund window"] if failing else [], "annotator": "qa"}).status_code == 201
    [(issue_id,)] = live.sql("SELECT id FROM issue WHERE title = 'Invented refund window'")

    admin = signed_in(url, email)
    spec = {"format": "sextant.evaluator", "version": 1, "family": "judge", "model": "stub-model",
            "prompt": 'Fail when the reply says "guaranteed".', "max_output_tokens": 200}
    created = admin.post(f"/api/v1/evaluators?project_id={project_id}",
                         json={"issue_id": issue_id, "name": "Guarantee judge", "spec": spec})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["versions"][0]["status"] in ("pending", "running", "ready")

    def scored():
        version = admin.get(f"/api/v1/evaluators/{body['id']}?project_id={project_id}").json()["versions"][0]
        assert version["status"] != "failed", version
        return version if version["status"] == "ready" else None

    version = wait_for(scored, timeout=120)
    assert version["mcc"] == pytest.approx(1.0) and version["holdout_size"] == 20
    assert stub.judge_calls() >= 20
