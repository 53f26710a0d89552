"""Durability: a server killed mid-load loses nothing it acknowledged, and retries store nothing twice.

A real server (uvicorn subprocess) on its own database takes OTLP batches from a few
threads; after some have been acknowledged it is SIGKILLed, with more in flight. After a
restart every span of every acknowledged batch must be there, every batch must be stored
whole or not at all, and resending the unacknowledged batches (plus one acknowledged
one) must leave each span and each trace's roll-up counted once.
"""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests import services
from tests.live import LiveServer, server_env, start_server, stop_process
from tests.traces.otlp_bodies import sdk_request

pytestmark = [pytest.mark.slow, pytest.mark.live_server]

BATCHES = 40
TRACES_PER_BATCH = 10
SENDERS = 4
KILL_AFTER_ACKS = 10


@dataclass
class Batch:
    body: bytes
    spans: set[tuple[str, str]]  # (trace id, span id), hex


def agent_traces(tracer) -> None:
    for n in range(TRACES_PER_BATCH):
        with tracer.start_as_current_span("invoke_agent support", attributes={"session.id": f"s-{n}"}):
            with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
                "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
            }):
                pass
            with tracer.start_as_current_span("execute_tool lookup", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
                "gen_ai.tool.call.result": "x" * 500,
            }):
                pass


def make_batch() -> Batch:
    """An export of fresh traces (the SDK draws new random ids each time)."""
    request = sdk_request(agent_traces)
    spans = {(span.trace_id.hex(), span.span_id.hex())
             for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans}
    return Batch(request.SerializeToString(), spans)


@pytest.fixture
def server_database(redis_url):
    """A database of its own, migrated, with a project and an API key; dropped afterwards."""
    from app.accounts import service
    from app.accounts.models import Organization
    from app.core import migrate

    name = f"sextant_durability_{services.run_id()}"
    url = services.recreate_database(services.admin_database_url(), name)
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as session:
        organization = Organization(name="Durable")
        session.add(organization)
        session.flush()
        project = service.create_project(session, organization_id=organization.id, name="Durable", actor="test")
        _, key = service.create_api_key(session, project, actor="test")
        session.commit()
    engine.dispose()
    yield url, key
    services.drop_database(services.admin_database_url(), name)


class Sender:
    """Posts batches from several threads, noting which were acknowledged (2xx)."""

    def __init__(self, url: str, key: str):
        self.client = httpx.Client(base_url=url, timeout=30, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf"})
        self.acknowledged: set[int] = set()
        self.enough_acknowledged = threading.Event()
        self._lock = threading.Lock()

    def send(self, index: int, batch: Batch) -> None:
        try:
            response = self.client.post("/v1/traces", content=batch.body)
        except httpx.HTTPError:
            return  # the server is gone: not acknowledged
        if response.is_success:
            with self._lock:
                self.acknowledged.add(index)
                if len(self.acknowledged) >= KILL_AFTER_ACKS:
                    self.enough_acknowledged.set()


def stored_spans(server: LiveServer) -> Counter:
    rows = server.sql("SELECT t.external_id, s.external_id FROM span s JOIN trace t ON t.id = s.trace_id")
    return Counter(map(tuple, rows))


def test_acknowledged_spans_survive_a_kill_and_retries_store_nothing_twice(server_database, redis_url):
    database_url, key = server_database
    batches = [make_batch() for _ in range(BATCHES)]
    env = server_env(database_url, redis_url)
    process, url = start_server(env)
    sender = Sender(url, key)
    try:
        with ThreadPoolExecutor(SENDERS) as pool:
            for index, batch in enumerate(batches):
                pool.submit(sender.send, index, batch)
            assert sender.enough_acknowledged.wait(120), "the server acknowledged too few batches"
            process.kill()  # SIGKILL, with the other senders' requests in flight
            process.wait()
    finally:
        sender.client.close()
        stop_process(process)

    acknowledged = sender.acknowledged
    unacknowledged = set(range(BATCHES)) - acknowledged
    assert unacknowledged, "the kill came after the load, not during it"

    process, url = start_server(env)
    try:
        server = LiveServer(url=url, database_url=database_url, env=env, process=process)
        stored = stored_spans(server)
        for index in acknowledged:
            assert batches[index].spans <= stored.keys(), f"acknowledged batch {index} lost spans"
        for index, batch in enumerate(batches):
            kept = batch.spans & stored.keys()
            assert kept in (set(), batch.spans), f"batch {index} is half-written"

        resent = sorted(unacknowledged) + [min(acknowledged)]
        with httpx.Client(base_url=url, timeout=30, headers=sender.client.headers) as client:
            for index in resent:
                assert client.post("/v1/traces", content=batches[index].body).status_code == 200

        stored = stored_spans(server)
        everything = set().union(*(batch.spans for batch in batches))
        assert set(stored) == everything
        assert set(stored.values()) == {1}
        span_counts = server.sql("SELECT t.span_count, count(s.id) FROM trace t JOIN span s ON s.trace_id = t.id "
                                 "GROUP BY t.id")
        assert len(span_counts) == BATCHES * TRACES_PER_BATCH
        assert all(rolled_up == actual for rolled_up, actual in span_counts)
    finally:
        stop_process(process)
