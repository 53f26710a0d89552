"""Webhooks reach public addresses only (unless SEXTANT_WEBHOOK_ALLOW_PRIVATE), checked when a
webhook is created and again, after resolving its name, at every attempt; a refused response
leaves its status and a short excerpt, never the receiver's whole answer."""

import pytest
from sqlalchemy import select

from app.core.errors import Unprocessable
from app.issues import alerts, repository, service, webhooks
from app.issues.models import Webhook, WebhookDelivery
from tests.factories import PASSWORD
from tests.issues.receiver import Receiver, allow_private_webhooks

PRIVATE = ["http://127.0.0.1/hook", "http://localhost:8080/hook", "http://169.254.169.254/latest/meta-data/",
           "http://10.1.2.3/hook", "http://192.168.0.10/hook", "http://172.16.5.4/hook", "http://100.64.0.1/hook",
           "http://0.0.0.0:8000/hook", "http://[::1]/hook", "http://[fe80::1]/hook", "http://[fd00::1]/hook",
           "http://[::ffff:127.0.0.1]/hook", "http://2130706433/hook", "http://0x7f.1/hook",
           "https://224.0.0.1/hook"]


@pytest.fixture
def private_refused(monkeypatch):
    """The default, whatever the environment running the tests says."""
    from app.core.settings import clear_caches

    monkeypatch.delenv("SEXTANT_WEBHOOK_ALLOW_PRIVATE", raising=False)
    clear_caches()
    yield
    clear_caches()


@pytest.mark.parametrize("url", PRIVATE)
def test_private_loopback_and_metadata_addresses_are_refused(db, project, private_refused, url):
    with pytest.raises(Unprocessable, match="SEXTANT_WEBHOOK_ALLOW_PRIVATE"):
        service.create_webhook(db, project.id, url)
    assert repository.webhooks_of(db, project.id) == []


@pytest.mark.parametrize("url", ["https://93.184.215.14/hook", "http://[2606:4700::1111]/hook",
                                 "https://hooks.no-such-name.invalid/hook"])
def test_public_addresses_and_names_not_resolvable_yet_are_accepted(db, project, private_refused, url):
    assert service.create_webhook(db, project.id, url).url == url


def test_the_switch_lets_a_webhook_reach_the_internal_network(db, project, monkeypatch):
    allow_private_webhooks(monkeypatch)
    try:
        assert service.create_webhook(db, project.id, "http://10.1.2.3/hook").url == "http://10.1.2.3/hook"
    finally:
        monkeypatch.undo()
        from app.core.settings import clear_caches
        clear_caches()


def test_the_form_says_why_an_address_is_refused(client, factory, project, private_refused):
    client.login(factory.user("admin").email, PASSWORD)
    refused = client.form(f"/projects/{project.id}/webhooks",
                          {"url": "http://169.254.169.254/latest/meta-data/", "events": ["issue.new"]})
    assert refused.status_code == 422 and "SEXTANT_WEBHOOK_ALLOW_PRIVATE" in refused.text


def pending_delivery(db, project, url: str) -> WebhookDelivery:
    """A webhook stored as it was accepted earlier (a name that resolved publicly then), and an alert for it."""
    db.add(Webhook(project_id=project.id, url=url, secret="s" * 24, events=["issue.new"]))
    db.flush()
    issue = service.create_issue(db, project.id, "Invents refunds", actor="test")
    alerts.notify(db, repository.events_of(db, issue.id)[0].id)
    return db.scalar(select(WebhookDelivery))


def test_each_attempt_resolves_again_and_refuses_a_name_now_pointing_inside(db, project, private_refused):
    receiver = Receiver()
    try:
        port = receiver.server.server_address[1]
        delivery = pending_delivery(db, project, f"http://localhost:{port}/hook")
        assert alerts.deliver(db, delivery.id) == 30.0  # a failed attempt, retried later
        assert receiver.received == []
        assert (delivery.status, delivery.response_code) == ("pending", None)
        assert "RefusedAddress: localhost is a private, loopback or link-local address" in delivery.last_error
    finally:
        receiver.close()


def test_a_refused_response_keeps_its_status_and_a_short_excerpt(db, client, factory, project, monkeypatch):
    allow_private_webhooks(monkeypatch)
    secret = "internal-token=" + "k" * 40
    answer = ("Internal error\n\n  while calling the billing service " + "." * 40 + secret).encode()
    receiver = Receiver(status=500, body=answer)
    try:
        delivery = pending_delivery(db, project, receiver.url)
        alerts.deliver(db, delivery.id)
        assert len(receiver.received) == 1 and delivery.response_code == 500
        expected = "Internal error while calling the billing service " + "." * 40
        assert delivery.last_error == "HTTP 500: " + expected[:webhooks.EXCERPT_CHARS - 1] + "…"
        client.login(factory.user("admin").email, PASSWORD)
        log = client.get(f"/projects/{project.id}/webhooks/deliveries").text
        assert "Internal error while calling" in log and "internal-token" not in log
    finally:
        receiver.close()
        monkeypatch.undo()
        from app.core.settings import clear_caches
        clear_caches()
