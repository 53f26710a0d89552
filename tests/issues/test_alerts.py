"""Alerts: notifications and signed webhook deliveries with retries, verified by a local receiver."""

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.db import utcnow
from app.core.errors import Unprocessable
from app.core.jobs import pending_jobs
from app.issues import alerts, repository, service, webhooks
from app.issues.models import Notification, WebhookDelivery
from tests.factories import PASSWORD
from tests.issues.receiver import Receiver, allow_private_webhooks


@pytest.fixture(autouse=True)
def local_receivers_allowed(monkeypatch):
    allow_private_webhooks(monkeypatch)
    yield
    monkeypatch.undo()
    from app.core.settings import clear_caches
    clear_caches()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def resolve(db, issue):
    service.transition(db, issue, "resolved", actor="user:1", actor_kind="user", reason="fixed in 2.4.1")
    return repository.events_of(db, issue.id)[-1]


def deliveries(db):
    return db.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def test_a_resolution_is_delivered_signed_to_a_receiver(db, project, receiver):
    hook = service.create_webhook(db, project.id, receiver.url)
    issue = service.create_issue(db, project.id, "Invents refunds", actor="test")
    event = resolve(db, issue)
    assert alerts.notify(db, event.id) == 1
    [delivery] = [d for d in deliveries(db) if d.kind == "issue.resolved"]
    assert ("issues.deliver_webhook", (delivery.id,), None, None) in pending_jobs(db)

    assert alerts.deliver(db, delivery.id) is None
    [got] = receiver.received
    assert webhooks.verify(hook.secret, got.body, got.headers[webhooks.SIGNATURE_HEADER])
    assert not webhooks.verify("another secret entirely", got.body, got.headers[webhooks.SIGNATURE_HEADER])
    assert not webhooks.verify(hook.secret, got.body + b" ", got.headers[webhooks.SIGNATURE_HEADER])
    timestamp = got.headers[webhooks.TIMESTAMP_HEADER]
    assert got.headers[webhooks.SIGNATURE_HEADER].startswith(f"t={timestamp},v1=")
    assert abs(int(timestamp) - time.time()) < 60
    assert got.headers[webhooks.EVENT_HEADER] == "issue.resolved"
    assert got.headers[webhooks.DELIVERY_HEADER] == str(delivery.id)
    payload = json.loads(got.body)
    assert payload["type"] == "issue.resolved" and payload["issue"]["id"] == issue.id
    assert payload["issue"]["url"].endswith(f"/projects/{project.id}/issues/{issue.id}")
    assert payload["transition"] == {"from": "new", "to": "resolved", "actor": "user:1", "reason": "fixed in 2.4.1"}
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 1, 200)
    # A duplicate job finds it delivered and sends nothing.
    assert alerts.deliver(db, delivery.id) is None
    assert len(receiver.received) == 1


def test_verify_refuses_stale_timestamps():
    body = b'{"a":1}'
    header = webhooks.signed_headers("s" * 20, body, kind="test", delivery_id=1, timestamp=1_000)
    signature = header[webhooks.SIGNATURE_HEADER]
    assert webhooks.verify("s" * 20, body, signature, now=1_100)
    assert not webhooks.verify("s" * 20, body, signature, now=1_000 + 301)
    assert not webhooks.verify("s" * 20, body, "v1=abc")


def test_failures_are_retried_with_exponential_back_off_then_given_up(db, project, monkeypatch):
    monkeypatch.setenv("SEXTANT_WEBHOOK_MAX_ATTEMPTS", "3")
    from app.core.settings import clear_caches
    clear_caches()
    failing = Receiver(status=500)
    try:
        service.create_webhook(db, project.id, failing.url, events=["issue.new"])
        issue = service.create_issue(db, project.id, "Invents refunds", actor="test")
        alerts.notify(db, repository.events_of(db, issue.id)[0].id)
        [delivery] = deliveries(db)
        now = utcnow()
        assert alerts.deliver(db, delivery.id, now=now) == 30.0
        assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
        assert delivery.last_error.startswith("HTTP 500")
        assert delivery.next_attempt_at == now + timedelta(seconds=30)
        assert alerts.deliver(db, delivery.id, now=now) == 60.0
        assert alerts.deliver(db, delivery.id, now=now) is None
        assert (delivery.status, delivery.attempts) == ("failed", 3)
        assert len(failing.received) == 3
    finally:
        failing.close()
        monkeypatch.delenv("SEXTANT_WEBHOOK_MAX_ATTEMPTS")
        clear_caches()


def test_redirects_are_not_followed(db, project):
    redirecting = Receiver(status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    try:
        service.create_webhook(db, project.id, redirecting.url, events=["issue.new"])
        issue = service.create_issue(db, project.id, "Invents refunds", actor="test")
        alerts.notify(db, repository.events_of(db, issue.id)[0].id)
        [delivery] = deliveries(db)
        assert alerts.deliver(db, delivery.id) is not None
        assert delivery.response_code == 302 and delivery.status == "pending"
        assert len(redirecting.received) == 1
    finally:
        redirecting.close()


def test_an_unreachable_receiver_is_an_error_not_a_crash(db, project):
    service.create_webhook(db, project.id, "http://127.0.0.1:9/nothing-listens", events=["issue.new"])
    issue = service.create_issue(db, project.id, "Invents refunds", actor="test")
    alerts.notify(db, repository.events_of(db, issue.id)[0].id)
    [delivery] = deliveries(db)
    assert alerts.deliver(db, delivery.id) == 30.0
    assert delivery.response_code is None and "ConnectError" in delivery.last_error


@pytest.mark.parametrize("url", ["ftp://example.com/x", "javascript:alert(1)", "file:///etc/passwd",
                                 "http://", "example.com/hook", "https://" + "a" * 2000 + ".com"])
def test_only_http_urls_with_a_host_are_accepted(db, project, url):
    with pytest.raises(Unprocessable):
        service.create_webhook(db, project.id, url)


def test_subscriptions_decide_who_gets_what_and_notify_is_idempotent(db, project, receiver):
    service.create_webhook(db, project.id, receiver.url, events=["issue.regressed"])
    everything = service.create_webhook(db, project.id, receiver.url + "/all")
    issue = service.create_issue(db, project.id, "Invents refunds", actor="test")
    event = resolve(db, issue)
    assert alerts.notify(db, event.id) == 1
    assert alerts.notify(db, event.id) == 0  # a retried job adds nothing
    assert [d.webhook_id for d in deliveries(db)] == [everything.id]
    assert db.scalar(select(Notification.message).where(Notification.event_id == event.id)) == \
        "“Invents refunds” was resolved: fixed in 2.4.1"
    ongoing = service.transition(db, issue, "ongoing", actor="user:1", actor_kind="user")
    assert alerts.notify(db, repository.events_of(db, ongoing.id)[-1].id) == 0  # reopening is no alert


def test_the_sweep_catches_up_on_lost_jobs(db, project, receiver):
    service.create_webhook(db, project.id, receiver.url)
    service.create_issue(db, project.id, "Invents refunds", actor="test")
    assert alerts.sweep_alerts(db) == 1  # the creation's notify job was "lost"
    [delivery] = deliveries(db)
    assert alerts.sweep_alerts(db) == 0
    delivery.next_attempt_at = utcnow() - timedelta(minutes=10)
    assert alerts.sweep_alerts(db) == 1
    assert ("issues.deliver_webhook", (delivery.id,), None, None) in pending_jobs(db)
    assert alerts.sweep_alerts(db) == 0  # re-planned: not sent twice


def test_notifications_list_and_unread_bell(db, client, factory, project):
    user = factory.user("viewer")
    first = service.create_issue(db, project.id, "Invents <refunds>", actor="test")
    alerts.notify(db, repository.events_of(db, first.id)[0].id)
    client.login(user.email, PASSWORD)
    bell = client.get(f"/projects/{project.id}/notifications/badge").text
    assert 'data-testid="unread-count" aria-label="1 unread"' in bell
    page = client.get(f"/projects/{project.id}/notifications").text
    assert "New issue: “Invents &lt;refunds&gt;”" in page and 'class="notification unread"' in page
    assert "bell-count" not in client.get(f"/projects/{project.id}/notifications/badge").text
    second = service.create_issue(db, project.id, "Wrong language", actor="test")
    alerts.notify(db, repository.events_of(db, second.id)[0].id)
    assert ">1</span>" in client.get(f"/projects/{project.id}/notifications/badge").text
    assert f'hx-get="/projects/{project.id}/notifications/badge"' in client.get(f"/projects/{project.id}/issues").text


def test_webhooks_page_adds_tests_and_logs(db, client, factory, project, receiver):
    admin = factory.user("admin")
    client.login(admin.email, PASSWORD)
    page = client.get(f"/projects/{project.id}/webhooks").text
    assert "X-Sextant-Signature: t=&lt;timestamp&gt;,v1=&lt;hex&gt;" in page
    assert "16–200 characters" in page and 'minlength="16" maxlength="200"' in page  # said before a submit
    added = client.form(f"/projects/{project.id}/webhooks", {"url": receiver.url, "events": ["issue.new",
                                                                                           "issue.resolved"]})
    assert added.status_code == 200 and 'data-testid="webhook-secret">whsec_' in added.text
    [hook] = repository.webhooks_of(db, project.id)
    assert hook.events == ["issue.new", "issue.resolved"]
    db.commit()
    refused = client.form(f"/projects/{project.id}/webhooks", {"url": "gopher://x", "events": ["issue.new"]})
    assert refused.status_code == 422 and "http:// or https://" in refused.text

    tested = client.form(f"/projects/{project.id}/webhooks/{hook.id}/test")
    assert tested.status_code == 200 and "pending" in tested.text
    [delivery] = deliveries(db)
    alerts.deliver(db, delivery.id)
    [got] = receiver.received
    assert got.headers[webhooks.EVENT_HEADER] == "test"
    assert webhooks.verify(hook.secret, got.body, got.headers[webhooks.SIGNATURE_HEADER])
    log = client.get(f"/projects/{project.id}/webhooks/deliveries").text
    assert "delivered" in log and "<td>200</td>" in log

    deleted = client.form(f"/projects/{project.id}/webhooks/{hook.id}/delete")
    assert deleted.status_code == 200 and repository.webhooks_of(db, project.id) == []
