"""Decoding OTLP/HTTP trace exports: protobuf and JSON agree, bad input is contained."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import os
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from app.traces import otlp
from app.traces.otlp import (
    DecodedExport,
    OtlpDecodeError,
    PayloadTooLarge,
    UnsupportedMediaType,
    build_response,
    decode_export,
    decompress,
)
from app.traces.semconv import MAX_DEPTH, MAX_TEXT_CHARS, SpanRecord
from tests.traces.otlp_bodies import gzipped, otlp_json, sdk_request

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
T0 = 1_715_799_600 * 10**9


def record_sample(tracer: trace.Tracer) -> None:
    """A small agent trace with every attribute type the SDK can send."""
    with tracer.start_as_current_span(
        "invoke_agent support",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "session.id": "s-1",
            "user.id": "u-1",
            "tag.tags": ["beta", "eu"],
            "retry.count": 3,
            "sample.ratio": 0.25,
            "feature.enabled": True,
            "shard.ids": [1, 2, 3],
        },
    ) as root:
        root.add_event("handoff", {"to": "billing", "attempt": 2})
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": "Refund order 7?"}]}]
                ),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "Done."}]}]
                ),
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 2,
            },
        ):
            pass
        with tracer.start_as_current_span("execute_tool refund") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "refund")
            tool.record_exception(ValueError("order 7 is not refundable"))
            tool.set_status(trace.Status(trace.StatusCode.ERROR, "refund failed"))


SAMPLE_RESOURCE = {"service.name": "support-bot", "service.version": "1.2.0"}


@pytest.fixture(scope="module")
def sample() -> ExportTraceServiceRequest:
    return sdk_request(record_sample, SAMPLE_RESOURCE)


def decode(body: bytes, content_type: str = PROTOBUF, encoding: str | None = None):
    return decode_export(body, content_type, encoding)


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_storable(span: SpanRecord) -> None:
    """Every value fits Postgres: JSON without NaN, UTF-8 encodable text, no NUL."""
    values = dataclasses.asdict(span)
    json.dumps(values, default=str, allow_nan=False)
    for text in strings(values):
        assert "\x00" not in text
        text.encode("utf-8")
    assert len(span.trace_id) == 32 and len(span.span_id) == 16


# ---------------------------------------------------------------------------
# Protobuf and JSON of the same spans give the same records


def test_protobuf_and_json_give_equal_records(sample):
    from_protobuf = decode(sample.SerializeToString())
    from_json = decode(otlp_json(sample), JSON)
    assert not from_protobuf.rejected and not from_json.rejected
    assert len(from_protobuf.spans) == 3
    assert from_protobuf.spans == from_json.spans


def test_sample_spans_are_mapped(sample):
    spans = {span.name: span for span in decode(sample.SerializeToString()).spans}
    root, chat, tool = (
        spans["invoke_agent support"],
        spans["chat gpt-4o"],
        spans["execute_tool refund"],
    )
    assert (
        root.parent_span_id is None and chat.parent_span_id == tool.parent_span_id == root.span_id
    )
    assert len({root.trace_id, chat.trace_id, tool.trace_id}) == 1
    assert (root.kind, chat.kind, tool.kind) == ("agent", "llm", "tool")
    assert root.attributes["shard.ids"] == [1, 2, 3] and root.attributes["sample.ratio"] == 0.25
    assert root.events[0]["name"] == "handoff"
    assert root.events[0]["attributes"] == {"to": "billing", "attempt": 2}
    assert root.session_id == "s-1" and root.tags == ["beta", "eu"] and root.release == "1.2.0"
    assert root.resource["service.name"] == "support-bot" and root.scope == "tests.traces"
    assert chat.input == "Refund order 7?" and chat.output == "Done." and chat.tokens_in == 12
    assert (tool.status, tool.error) == ("error", "refund failed")
    assert tool.events[0]["attributes"]["exception.type"] == "ValueError"
    assert root.start_time.tzinfo is not None and root.end_time >= root.start_time


def test_json_accepts_snake_case_enum_names_and_numbers():
    body = json.dumps(
        {
            "resource_spans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.version", "value": {"string_value": "9"}}]
                    },
                    "scope_spans": [
                        {
                            "scope": {"name": "manual"},
                            "spans": [
                                {
                                    "trace_id": TRACE_ID.hex().upper(),
                                    "span_id": SPAN_ID.hex(),
                                    "parent_span_id": "",
                                    "name": "op",
                                    "kind": "SPAN_KIND_SERVER",
                                    "start_time_unix_nano": T0,
                                    "end_time_unix_nano": str(T0 + 5000),
                                    "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
                                    "attributes": [
                                        {"key": "n", "value": {"int_value": -7}},
                                        {"key": "d", "value": {"double_value": "NaN"}},
                                        {"key": "b", "value": {"bytes_value": "AP8="}},
                                        {"key": "e", "value": {}},
                                        {
                                            "key": "kv",
                                            "value": {
                                                "kvlist_value": {
                                                    "values": [
                                                        {
                                                            "key": "x",
                                                            "value": {
                                                                "array_value": {
                                                                    "values": [{"bool_value": True}]
                                                                }
                                                            },
                                                        }
                                                    ]
                                                }
                                            },
                                        },
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode()
    (span,) = decode(body, JSON).spans
    assert span.trace_id == TRACE_ID.hex() and span.parent_span_id is None
    assert (span.status, span.error, span.release, span.scope) == ("error", "boom", "9", "manual")
    assert span.attributes == {"n": -7, "d": "NaN", "b": "AP8=", "e": None, "kv": {"x": [True]}}
    assert (span.end_time - span.start_time).microseconds == 5


def any_value(value) -> AnyValue:
    if isinstance(value, dict):
        return AnyValue(
            kvlist_value=KeyValueList(
                values=[KeyValue(key=k, value=any_value(v)) for k, v in value.items()]
            )
        )
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    return AnyValue(string_value=value)


def request_with(*spans: Span, resource: dict | None = None) -> ExportTraceServiceRequest:
    resource_spans = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    for key, value in (resource or {}).items():
        resource_spans.resource.attributes.add(key=key, value=any_value(value))
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def span(**overrides) -> Span:
    fields = {
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "name": "op",
        "start_time_unix_nano": T0,
        "end_time_unix_nano": T0 + 10**6,
    }
    fields.update(overrides)
    return Span(**fields)


def test_structured_values_decode_the_same_from_both_encodings():
    deep: dict = {"leaf": "bottom"}
    for _ in range(MAX_DEPTH + 3):
        deep = {"d": deep}
    attributes = [
        KeyValue(key="map", value=any_value({"a": "1", "raw": b"\x01\x02"})),
        KeyValue(key="deep", value=any_value(deep)),
    ]
    request = request_with(span(attributes=attributes))
    from_protobuf = decode(request.SerializeToString()).spans
    assert from_protobuf == decode(otlp_json(request), JSON).spans
    attributes = from_protobuf[0].attributes
    assert attributes["map"] == {"a": "1", "raw": base64.b64encode(b"\x01\x02").decode()}
    node = attributes["deep"]
    for _ in range(MAX_DEPTH - 1):
        node = node["d"]
    assert isinstance(node, str) and "bottom" in node


# ---------------------------------------------------------------------------
# Compression and content types


def test_gzip_and_deflate_bodies(sample):
    body = sample.SerializeToString()
    plain = decode(body).spans
    assert decode(gzipped(body), encoding="gzip").spans == plain
    assert decode(zlib.compress(body), encoding="deflate").spans == plain
    assert decode(gzipped(otlp_json(sample)), JSON, "gzip").spans == plain
    assert decompress(gzipped(body[:100]) + gzipped(body[100:]), "gzip") == body


def test_gzip_bomb_stops_at_the_cap():
    bomb = gzipped(b"\0" * 5_000_000)
    assert len(bomb) < 20_000
    with pytest.raises(PayloadTooLarge) as caught:
        decompress(bomb, "gzip", max_bytes=1_000_000)
    assert caught.value.status_code == 413
    with pytest.raises(PayloadTooLarge):
        decompress(b"x" * 11, None, max_bytes=10)


@pytest.mark.parametrize(
    "body, encoding, error",
    [
        (b"not gzip at all", "gzip", OtlpDecodeError),
        (gzip.compress(b"x" * 1000)[:-12], "gzip", OtlpDecodeError),
        (b"", "br", UnsupportedMediaType),
    ],
    ids=["garbage", "truncated", "unknown-encoding"],
)
def test_bad_compression(body, encoding, error):
    with pytest.raises(error):
        decompress(body, encoding)


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/xml"])
def test_unknown_content_type_is_415(content_type):
    with pytest.raises(UnsupportedMediaType) as caught:
        decode(b"{}", content_type)
    assert caught.value.status_code == 415


def test_content_type_parameters_are_ignored():
    assert decode(b"{}", "Application/JSON; charset=utf-8") == DecodedExport("json")
    assert decode(b"", "application/protobuf") == DecodedExport("protobuf")


# ---------------------------------------------------------------------------
# Partial success


BAD_SPANS = [
    (span(trace_id=b"\x01" * 8), "trace_id must be 16 bytes, got 8"),
    (span(trace_id=b"\0" * 16), "trace_id is all zeros"),
    (span(span_id=b""), "span_id must be 8 bytes, got 0"),
    (span(parent_span_id=b"\x01\x02"), "parent_span_id must be 8 bytes, got 2"),
    (span(start_time_unix_nano=0), "start time is missing"),
    (span(start_time_unix_nano=10**9, end_time_unix_nano=2 * 10**9), "outside years 2000-2099"),
    (span(end_time_unix_nano=T0 - 1), "end time is before start time"),
]


def test_unstorable_spans_are_rejected_alone():
    good = span(span_id=b"\x07" * 8, parent_span_id=b"\0" * 8, end_time_unix_nano=0)
    request = request_with(good, *(bad for bad, _ in BAD_SPANS))
    for decoded in (decode(request.SerializeToString()), decode(otlp_json(request), JSON)):
        assert [s.span_id for s in decoded.spans] == ["07" * 8]
        assert decoded.spans[0].parent_span_id is None and decoded.spans[0].end_time is None
        assert [r.index for r in decoded.rejected] == list(range(1, len(BAD_SPANS) + 1))
    reasons = [r.reason for r in decode(request.SerializeToString()).rejected]
    for reason, (_, expected) in zip(reasons, BAD_SPANS, strict=True):
        assert expected in reason
    message = decode(request.SerializeToString()).error_message()
    assert message.startswith("7 span(s) rejected: span 1: trace_id must be 16 bytes")
    assert message.endswith("; and 2 more")


@pytest.mark.parametrize(
    "bad_span, reason",
    [
        ("not an object", "span must be an object"),
        ({"traceId": "zz" * 16, "spanId": SPAN_ID.hex()}, "traceId must be 32 hex"),
        ({"traceId": TRACE_ID.hex(), "spanId": 42}, "spanId must be 16 hex"),
        ({"attributes": {"key": "x"}}, "attributes must be a list"),
        ({"attributes": [{"key": "x", "value": "bare"}]}, "AnyValue object"),
        ({"attributes": [{"key": "x", "value": {"intValue": "1e3"}}]}, "64-bit integer"),
        ({"attributes": [{"key": "x", "value": {"intValue": str(2**63)}}]}, "64-bit integer"),
        ({"attributes": [{"key": "x", "value": {"bytesValue": "%%"}}]}, "base64"),
        ({"attributes": [{"value": {"boolValue": True}}]}, "string key"),
        ({"startTimeUnixNano": -5}, "non-negative integer"),
        ({"status": "ok"}, "status must be an object"),
        ({"events": [{"name": 5}]}, "event name must be a string"),
    ],
)
def test_json_shape_errors_inside_a_span_reject_that_span(bad_span, reason):
    valid = {
        "traceId": TRACE_ID.hex(),
        "spanId": SPAN_ID.hex(),
        "name": "op",
        "startTimeUnixNano": str(T0),
    }
    spans = [valid, bad_span if not isinstance(bad_span, dict) else {**valid, **bad_span}]
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()
    decoded = decode(body, JSON)
    assert len(decoded.spans) == 1
    (rejection,) = decoded.rejected
    assert rejection.index == 1 and reason in rejection.reason


def test_bad_resource_rejects_its_spans():
    spans = [{"traceId": TRACE_ID.hex(), "spanId": SPAN_ID.hex(), "startTimeUnixNano": str(T0)}]
    body = json.dumps(
        {"resourceSpans": [{"resource": {"attributes": "nope"}, "scopeSpans": [{"spans": spans}]}]}
    ).encode()
    assert [r.reason for r in decode(body, JSON).rejected] == ["attributes must be a list"]


def test_partial_success_response_in_both_encodings():
    response = ExportTraceServiceResponse.FromString(
        build_response(2, "2 span(s) rejected", "protobuf")
    )
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == "2 span(s) rejected"
    document = json.loads(build_response(2, "2 span(s) rejected", "json"))
    assert document == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 span(s) rejected"}
    }
    assert build_response(0, None, "protobuf") == b""
    assert json.loads(build_response(0, None, "json")) == {}


# ---------------------------------------------------------------------------
# Malformed bodies: one clear error, or rejections; never anything else


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"resourceSpans"',
        b'{"resourceSpans": {}}',
        b'{"resourceSpans": [1]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": "x"}]}]}',
        b"{" * 10,
        b"[" * 100_000 + b"]" * 100_000,
        b"\xff\xfe{",
    ],
)
def test_unreadable_json_is_one_clear_error(body):
    with pytest.raises(OtlpDecodeError) as caught:
        decode(body, JSON)
    assert caught.value.status_code == 400 and str(caught.value)


def test_truncated_and_random_protobuf(sample):
    body = sample.SerializeToString()
    for cut in (1, 7, len(body) // 2, len(body) - 1):
        try:
            decoded = decode(body[:cut])
        except OtlpDecodeError:
            continue
        for span_record in decoded.spans:
            assert_storable(span_record)
    with pytest.raises(OtlpDecodeError):
        decode(b"\xff" * 64)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    """One protobuf field on the wire (payload under 2 MB: the length fits 3 varint bytes)."""
    length, varint = len(payload), b""
    while True:
        byte, length = length & 0x7F, length >> 7
        varint += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    return bytes([field_number << 3 | 2]) + varint + payload


def test_protobuf_nested_past_the_parser_limit_is_an_error():
    # Built on the wire: the protobuf library itself refuses to build this message.
    value = AnyValue(string_value="x").SerializeToString()
    for _ in range(120):
        value = length_delimited(5, length_delimited(1, value))  # AnyValue.array_value.values
    key_value = length_delimited(1, b"deep") + length_delimited(2, value)
    body = request_with(span()).SerializeToString()
    spans = length_delimited(2, span().SerializeToString() + length_delimited(9, key_value))
    body = length_delimited(1, length_delimited(2, spans))  # resource_spans.scope_spans.spans
    with pytest.raises(OtlpDecodeError):
        decode(body)


def test_invalid_utf8_in_protobuf_strings_is_replaced():
    lenient = otlp._lenient_request_class()
    request = lenient.FromString(request_with(span()).SerializeToString())
    proto_span = request.resource_spans[0].scope_spans[0].spans[0]
    proto_span.name = b"op\xff"
    proto_span.attributes.add(key=b"k\xc3", value={"string_value": b"bad \xff\xfe text\x00"})
    request.resource_spans[0].scope_spans[0].scope.name = b"\xe2\x82"
    (decoded,) = decode(request.SerializeToString()).spans
    assert decoded.name == "op\ufffd"
    assert decoded.attributes == {"k\ufffd": "bad \ufffd\ufffd text"}
    assert decoded.scope == "\ufffd"
    assert_storable(decoded)


def test_invalid_utf8_and_escapes_in_json_are_replaced():
    body = (
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "'
        + TRACE_ID.hex().encode()
        + b'", "spanId": "'
        + SPAN_ID.hex().encode()
        + b'", "startTimeUnixNano": "'
        + str(T0).encode()
        + b'", "name": "a\xffb\\u0000", "attributes": '
        + b'[{"key": "s", "value": {"stringValue": "\\ud800x"}}]}]}]}]}'
    )
    (decoded,) = decode(body, JSON).spans
    assert decoded.name == "a\ufffdb" and decoded.attributes == {"s": "\ufffdx"}
    assert_storable(decoded)


def test_huge_strings_and_nul_are_made_safe(sample):
    huge = "y" * (MAX_TEXT_CHARS + 5) + "\x00"
    request = request_with(
        span(name="n\x00ame", attributes=[KeyValue(key="input.value", value=any_value(huge))])
    )
    for decoded in (decode(request.SerializeToString()), decode(otlp_json(request), JSON)):
        (span_record,) = decoded.spans
        assert span_record.name == "name"
        assert len(span_record.attributes["input.value"]) <= MAX_TEXT_CHARS
        assert span_record.input == span_record.attributes["input.value"]
        assert_storable(span_record)


# Field names that steer generated JSON into the OTLP structure's corners.
OTLP_KEYS = st.sampled_from(
    [
        "resourceSpans", "scopeSpans", "spans", "resource", "scope", "attributes", "key", "value",
        "traceId", "spanId", "parentSpanId", "name", "startTimeUnixNano", "endTimeUnixNano",
        "events", "timeUnixNano", "status", "code", "message", "stringValue", "intValue",
        "doubleValue", "boolValue", "bytesValue", "arrayValue", "kvlistValue", "values",
    ]
)  # fmt: skip
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(OTLP_KEYS | ANY_TEXT, children, max_size=5)
    ),
    max_leaves=40,
)
FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def decoded_or_clear_error(body: bytes, content_type: str, encoding: str | None = None):
    try:
        decoded = decode_export(body, content_type, encoding)
    except OtlpDecodeError as error:
        assert str(error)
        return None
    for span_record in decoded.spans:
        assert_storable(span_record)
    return decoded


@FUZZ
@given(document=JSON_VALUES)
def test_fuzz_json_documents(document):
    decoded_or_clear_error(json.dumps(document).encode(), JSON)


@FUZZ
@given(body=st.binary(max_size=512), content_type=st.sampled_from([PROTOBUF, JSON]))
def test_fuzz_random_bytes(body, content_type):
    decoded_or_clear_error(body, content_type)
    decoded_or_clear_error(gzipped(body), content_type, "gzip")


@FUZZ
@given(data=st.data())
def test_fuzz_mutated_protobuf(sample, data):
    body = bytearray(sample.SerializeToString())
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(body) - 1))
        body[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    decoded_or_clear_error(bytes(body[:cut]), PROTOBUF)


@FUZZ
@given(
    text=ANY_TEXT,
    raw=st.binary(max_size=40),
    number=st.floats() | st.integers(-(2**63), 2**63 - 1),
    key=ANY_TEXT,
)
def test_fuzz_attribute_values(text, raw, number, key):
    number_value = (
        {"doubleValue": number} if isinstance(number, float) else {"intValue": str(number)}
    )
    attributes = [
        {"key": key, "value": {"stringValue": text}},
        {
            "key": "gen_ai.input.messages",
            "value": {"stringValue": json.dumps([{"role": text, "content": text}])},
        },
        {"key": "raw", "value": {"bytesValue": base64.b64encode(raw).decode()}},
        {"key": "n", "value": number_value},
    ]
    span_json = {
        "traceId": TRACE_ID.hex(),
        "spanId": SPAN_ID.hex(),
        "name": text,
        "startTimeUnixNano": str(T0),
        "attributes": attributes,
        "events": [{"name": text, "attributes": attributes}],
    }
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span_json]}]}]}).encode()
    decoded = decoded_or_clear_error(body, JSON)
    assert decoded is not None and len(decoded.spans) == 1

    lenient = otlp._lenient_request_class()
    request = lenient.FromString(request_with(span()).SerializeToString())
    proto_span = request.resource_spans[0].scope_spans[0].spans[0]
    proto_span.attributes.add(key=raw, value={"string_value": raw + os.urandom(2)})
    decoded = decoded_or_clear_error(request.SerializeToString(), PROTOBUF)
    assert decoded is not None and len(decoded.spans) == 1
