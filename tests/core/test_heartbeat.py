"""Admins are told when no background worker is running; a real worker reports itself."""

import time

import httpx

from app.core import heartbeat
from tests.factories import PASSWORD


def test_admins_see_a_banner_while_no_worker_reports(client, make_client, factory, project, redis_client):
    client.login(factory.user("admin").email, PASSWORD)
    traces = f"/projects/{project.id}/traces"
    assert 'data-testid="worker-silent"' in client.get(traces).text
    annotator = make_client()
    annotator.login(factory.user("annotator").email, PASSWORD)
    assert 'data-testid="worker-silent"' not in annotator.get(traces).text  # nothing they can do about it
    heartbeat.beat()
    assert 'data-testid="worker-silent"' not in client.get(traces).text


def test_a_running_worker_reports_itself(live, celery_worker):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{live.url}/healthz").json()["worker"] == "ok":
            return
        time.sleep(0.5)
    raise AssertionError("the worker never reported")
