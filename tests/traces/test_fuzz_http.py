"""Malformed ingestion requests over HTTP, down to the database: never a 5xx, and every 4xx
in the error envelope. Also: a streamed body over the size cap, and back-pressure."""

import gzip
import json
import threading
import time
import zlib

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.traces.otlp_bodies import otlp_json, sdk_request
from tests.traces.test_otlp_live import project_key, record_conversation

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CONTENT_TYPES = ["application/x-protobuf", "application/protobuf", "application/json",
                 "application/json; charset=utf-8", "APPLICATION/X-PROTOBUF", "text/plain", "",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/grpc"]
ENCODINGS = [None, "gzip", "x-gzip", "deflate", "identity", "br", "gzip, br", ""]

# Integers within int64 here: beyond it, see test_integers_beyond_int64_are_refused.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)


@pytest.fixture
def auth(factory):
    return {"Authorization": f"Bearer {factory.api_key(factory.project())}"}


@pytest.fixture(scope="module")
def valid_export():
    return sdk_request(record_conversation)


def rest_batch() -> dict:
    return {"traces": [{"id": "t-1", "name": "checkout", "tags": ["a"], "metadata": {"k": 1}, "spans": [
        {"id": "root", "name": "checkout", "start_time": "2026-01-01T10:00:00Z", "end_time": "2026-01-01T10:00:02Z"},
        {"id": "llm", "parent_id": "root", "name": "plan", "model": "m", "tokens_in": 3, "cost": 0.1,
         "start_time": "2026-01-01T10:00:01Z", "input_messages": [{"role": "user", "content": "hi"}],
         "attributes": {"gen_ai.request.model": "m"}}]}]}


def assert_envelope(response: httpx.Response) -> None:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]


def assert_handled(response: httpx.Response) -> None:
    """Below 500, and a 4xx carries {"error": {"code", "message", "details"}}."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_envelope(response)


def assert_otlp_answer(response: httpx.Response) -> None:
    assert_handled(response)
    if response.status_code == 200:
        if response.headers["content-type"] == "application/json":
            assert isinstance(response.json(), dict)
        else:
            ExportTraceServiceResponse.FromString(response.content)


def encode(body: bytes, encoding: str | None, compress: bool) -> bytes:
    """Compress as the header says (or, when `compress` is False, lie about it)."""
    if not compress or encoding is None:
        return body
    if encoding in ("gzip", "x-gzip"):
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    return body


def headers(auth: dict, content_type: str, encoding: str | None) -> dict:
    found = {**auth, "Content-Type": content_type}
    if encoding is not None:
        found["Content-Encoding"] = encoding
    return found


def mutate_bytes(data, body: bytes) -> bytes:
    """Flip, cut, insert or repeat bytes, a few times over."""
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, max(len(body) - 1, 0)))
        operation = data.draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        if operation == "flip" and body:
            body = body[:at] + bytes([body[at] ^ data.draw(st.integers(1, 255))]) + body[at + 1:]
        elif operation == "cut":
            body = body[:at]
        elif operation == "insert":
            body = body[:at] + data.draw(st.binary(min_size=1, max_size=16)) + body[at:]
        else:
            body = body[:at] + body[at:at + 32] * data.draw(st.integers(2, 5)) + body[at:]
    return body


def mutate_json(data, document):
    """Replace a node somewhere in the document by any JSON value, or drop it."""
    if not isinstance(document, (dict, list)) or not document or data.draw(st.integers(0, 3)) == 0:
        return data.draw(json_values)
    if isinstance(document, dict):
        key = data.draw(st.sampled_from(sorted(document)))
        if data.draw(st.booleans()):
            return {k: v for k, v in document.items() if k != key}
        return {**document, key: mutate_json(data, document[key])}
    index = data.draw(st.integers(0, len(document) - 1))
    return [*document[:index], mutate_json(data, document[index]), *document[index + 1:]]


@FUZZ
@given(body=st.binary(max_size=2000), content_type=st.sampled_from(CONTENT_TYPES),
       encoding=st.sampled_from(ENCODINGS), path=st.sampled_from(["/v1/traces", "/api/v1/traces"]))
def test_random_bytes(client, auth, body, content_type, encoding, path):
    assert_handled(client.post(path, content=body, headers=headers(auth, content_type, encoding)))


@FUZZ
@given(data=st.data(), encoding=st.sampled_from(ENCODINGS), compress=st.booleans())
def test_mutated_protobuf_exports(client, auth, valid_export, data, encoding, compress):
    body = encode(mutate_bytes(data, valid_export.SerializeToString()), encoding, compress)
    content_type = data.draw(st.sampled_from(CONTENT_TYPES[:5]))
    assert_otlp_answer(client.post("/v1/traces", content=body, headers=headers(auth, content_type, encoding)))


@FUZZ
@given(data=st.data(), encoding=st.sampled_from(ENCODINGS), compress=st.booleans(), as_text=st.booleans())
def test_mutated_otlp_json_exports(client, auth, valid_export, data, encoding, compress, as_text):
    document = json.loads(otlp_json(valid_export))
    for _ in range(data.draw(st.integers(1, 3))):
        document = mutate_json(data, document)
    body = json.dumps(document).encode()
    if as_text:
        body = mutate_bytes(data, body)
    response = client.post("/v1/traces", content=encode(body, encoding, compress),
                           headers=headers(auth, "application/json", encoding))
    assert_otlp_answer(response)


@FUZZ
@given(data=st.data(), as_text=st.booleans())
def test_mutated_rest_batches(client, auth, data, as_text):
    document = rest_batch()
    for _ in range(data.draw(st.integers(1, 3))):
        document = mutate_json(data, document)
    body = json.dumps(document).encode()
    if as_text:
        body = mutate_bytes(data, body)
    assert_handled(client.post("/api/v1/traces", content=body, headers=headers(auth, "application/json", None)))


@pytest.mark.parametrize("field", ["tokens_in", "tokens_out", "tokens_cache_read", "tokens_reasoning"])
def test_integers_beyond_int64_are_refused(client, auth, field):
    batch = rest_batch()
    batch["traces"][0]["spans"][1][field] = 2**63
    response = client.post("/api/v1/traces", json=batch, headers=auth)
    assert_handled(response)
    assert response.status_code == 422


@pytest.mark.parametrize("path", ["/v1/traces", "/api/v1/traces"])
@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deeply_nested_json(client, auth, path, opener):
    response = client.post(path, content=opener * 100_000, headers=headers(auth, "application/json", None))
    assert_handled(response)
    assert response.status_code in (400, 422)


@pytest.mark.parametrize(("path", "content_type"), [("/v1/traces", "application/x-protobuf"),
                                                     ("/api/v1/traces", "application/json")])
def test_a_streamed_body_over_the_cap_gets_413(client, auth, path, content_type):
    from app.core.settings import limits_settings

    chunk = b"x" * 1024 * 1024
    chunks = limits_settings().max_body_bytes // len(chunk) + 2

    def body():
        for _ in range(chunks):
            yield chunk

    response = client.post(path, content=body(), headers=headers(auth, content_type, None))
    assert "content-length" not in response.request.headers  # chunked: the size is not declared
    assert response.status_code == 413
    assert_handled(response)
    assert response.json()["error"]["code"] == "payload_too_large"


# ---------------------------------------------------------------------------
# Back-pressure, on a live server that takes one ingestion request at a time


@pytest.fixture(scope="module")
def one_at_a_time(live_server, redis_url):
    from tests.live import server_env, start_server, stop_process

    env = server_env(live_server.database_url, redis_url, SEXTANT_INGEST_MAX_IN_FLIGHT="1")
    process, url = start_server(env)
    yield url
    stop_process(process)


def wait_for_lock_wait(live, timeout: float = 60) -> None:
    """Until some backend of the live database waits for a lock: the first request is inside."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live.sql("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"):
            return
        time.sleep(0.05)
    raise AssertionError("the first request never reached the database")


def test_beyond_the_in_flight_cap_the_answer_is_503_with_retry_after(live, one_at_a_time, valid_export):
    import psycopg

    key = project_key(live.database_url)
    export = httpx.Client(base_url=one_at_a_time, timeout=60, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf"})
    body = valid_export.SerializeToString()
    first: list[httpx.Response] = []
    with psycopg.connect(live.conninfo()) as blocker:
        # Writers to `trace` wait behind this lock, so the first request holds its slot.
        blocker.execute("LOCK TABLE trace IN SHARE MODE")
        sender = threading.Thread(target=lambda: first.append(export.post("/v1/traces", content=body)))
        sender.start()
        wait_for_lock_wait(live)
        second = export.post("/v1/traces", content=body)
    sender.join()

    assert second.status_code == 503
    assert second.headers["Retry-After"].isdigit()
    assert_envelope(second)
    assert second.json()["error"]["code"] == "service_unavailable"
    assert first[0].status_code == 200
    assert export.post("/v1/traces", content=body).status_code == 200  # the retry gets in
    assert live.sql("SELECT count(*) FROM span") == [(3,)]
