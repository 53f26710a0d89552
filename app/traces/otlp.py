"""Decode OTLP/HTTP trace export bodies into normalised span records.

Pure functions: no database, no web framework. The web layer calls
`decode_export(body, content_type, content_encoding)` and answers with
`build_response(...)`:

- `application/x-protobuf` is parsed with `opentelemetry-proto`'s
  `ExportTraceServiceRequest`, and the objects are walked directly (`MessageToDict`
  alone costs about 3.5 times the whole walk). Protobuf refuses strings that are not valid UTF-8; such
  bodies are re-read with a copy of the schema whose strings are bytes, so the bad
  sequences can be replaced rather than the whole export refused.
- `application/json` is OTLP/JSON: hex ids, lowerCamelCase or snake_case keys, enums as
  ints or names, 64-bit ints as strings or numbers.
- `decompress` undoes gzip or deflate and stops inflating past `max_bytes`, so a gzip
  bomb costs no more than a body of that size.
- A body that cannot be read at all raises `OtlpDecodeError` (HTTP 400); its subclasses
  `PayloadTooLarge` (413) and `UnsupportedMediaType` (415) refine it.
- A span that cannot be stored (bad ids, missing or absurd timestamps, malformed
  fields) is rejected alone: `DecodedExport.rejected` lists (index, reason), the index
  counting spans in body order, and the response reports them as OTLP partial success.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from app.traces.semconv import (
    MAX_DEPTH,
    MAX_KEY_CHARS,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    RawSpan,
    SpanRecord,
    clean_text,
    finite_or_text,
    map_span,
    stringify,
)

Encoding = Literal["protobuf", "json"]
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
JSON_CONTENT_TYPE = "application/json"
CONTENT_TYPES: dict[Encoding, str] = {"protobuf": PROTOBUF_CONTENT_TYPE, "json": JSON_CONTENT_TYPE}

# A gzip bomb inflates a small body a thousandfold; stop inflating past this.
DEFAULT_MAX_DECOMPRESSED_BYTES = 32 * 1024 * 1024

# Span times outside [2000-01-01, 2100-01-01) are clock errors or garbage, not traces.
MIN_TIME_NS = 946_684_800 * 10**9
MAX_TIME_NS = 4_102_444_800 * 10**9

# Reasons listed in a partial-success message; the count covers the rest.
MAX_REASONS_IN_MESSAGE = 5

_STATUSES = {0: "unset", 1: "ok", 2: "error"}
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class OtlpDecodeError(ValueError):
    """The body as a whole cannot be read: answer 400 with this message."""

    status_code = 400


class PayloadTooLarge(OtlpDecodeError):
    status_code = 413


class UnsupportedMediaType(OtlpDecodeError):
    status_code = 415


class Rejection(NamedTuple):
    index: int
    reason: str


@dataclass(slots=True)
class DecodedExport:
    encoding: Encoding
    spans: list[SpanRecord] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def error_message(self) -> str | None:
        """A partial-success message naming the first few rejected spans."""
        if not self.rejected:
            return None
        shown = "; ".join(
            f"span {r.index}: {r.reason}" for r in self.rejected[:MAX_REASONS_IN_MESSAGE]
        )
        more = len(self.rejected) - MAX_REASONS_IN_MESSAGE
        suffix = f"; and {more} more" if more > 0 else ""
        return f"{len(self.rejected)} span(s) rejected: {shown}{suffix}"


class _Invalid(Exception):
    """One span cannot be stored; the message is the reason reported to the client."""


# ---------------------------------------------------------------------------
# Entry points


def decode_export(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> DecodedExport:
    encoding = encoding_for(content_type)
    body = decompress(body, content_encoding, max_bytes)
    return decode_protobuf(body) if encoding == "protobuf" else decode_json(body)


def encoding_for(content_type: str | None) -> Encoding:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in ("application/x-protobuf", "application/protobuf"):
        return "protobuf"
    if media_type == "application/json":
        return "json"
    raise UnsupportedMediaType(
        f"unsupported content type {media_type or '(none)'!r}: "
        "send application/x-protobuf or application/json"
    )


def decompress(
    body: bytes, content_encoding: str | None, max_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
) -> bytes:
    """The body with its Content-Encoding (gzip, deflate or identity) undone, capped."""
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("", "identity"):
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"body is larger than {max_bytes} bytes")
        return body
    if coding not in ("gzip", "x-gzip", "deflate"):
        raise UnsupportedMediaType(f"unsupported content encoding {coding!r}: use gzip")
    # wbits 47 detects a gzip or zlib header; 31 is gzip only.
    wbits = 31 if coding != "deflate" else 47
    try:
        return _inflate(body, wbits, max_bytes)
    except zlib.error as error:
        raise OtlpDecodeError(f"body is not valid {coding}: {error}") from None


def _inflate(body: bytes, wbits: int, max_bytes: int) -> bytes:
    """Inflate every concatenated member, never producing more than max_bytes + 1."""
    chunks: list[bytes] = []
    produced = 0
    remaining = body
    while remaining:
        inflater = zlib.decompressobj(wbits)
        chunk = inflater.decompress(remaining, max_bytes + 1 - produced)
        produced += len(chunk)
        chunks.append(chunk)
        if produced > max_bytes or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"decompressed body is larger than {max_bytes} bytes")
        if not inflater.eof:
            raise OtlpDecodeError("compressed body is truncated")
        remaining = inflater.unused_data
    return b"".join(chunks)


def build_response(rejected_count: int, error_message: str | None, encoding: Encoding) -> bytes:
    """An ExportTraceServiceResponse; partial success only when something was rejected."""
    response = ExportTraceServiceResponse()
    if rejected_count or error_message:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(
                rejected_spans=rejected_count, error_message=error_message or ""
            )
        )
    if encoding == "protobuf":
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode("utf-8")


# ---------------------------------------------------------------------------
# Metrics: accepted per OTLP, not stored

METRICS_NOT_STORED = "Sextant does not store metrics; token counts, cost and durations come from the spans."
_DATA_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def metrics_response(body: bytes, content_type: str | None, content_encoding: str | None = None,
                     max_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES) -> tuple[bytes, Encoding]:
    """The answer to a metrics export: a partial success rejecting every data point, which
    SDKs log once as a warning instead of retrying or reporting an error each interval."""
    encoding = encoding_for(content_type)
    body = decompress(body, content_encoding, max_bytes)
    request = ExportMetricsServiceRequest()
    try:
        if encoding == "protobuf":
            request.ParseFromString(body)
        else:
            json_format.Parse(body, request, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, RecursionError) as error:
        raise OtlpDecodeError(f"not a valid OTLP metrics export: {str(error)[:200]}") from None
    points = sum(len(getattr(metric, metric.WhichOneof("data")).data_points)
                 for resource in request.resource_metrics for scope in resource.scope_metrics
                 for metric in scope.metrics if metric.WhichOneof("data") in _DATA_KINDS)
    response = ExportMetricsServiceResponse()
    response.partial_success.CopyFrom(
        ExportMetricsPartialSuccess(rejected_data_points=points, error_message=METRICS_NOT_STORED))
    if encoding == "protobuf":
        return response.SerializeToString(), encoding
    return json_format.MessageToJson(response, indent=None).encode("utf-8"), encoding


# ---------------------------------------------------------------------------
# Protobuf


def decode_protobuf(body: bytes) -> DecodedExport:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
        text = _clean_valid_text
    except DecodeError:
        request = _parse_with_byte_strings(body)
        text = _clean_bytes
    decoded = DecodedExport("protobuf")
    index = 0
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes, text)
        for scope_spans in resource_spans.scope_spans:
            scope = text(scope_spans.scope.name, MAX_LABEL_CHARS) or None
            for span in scope_spans.spans:
                try:
                    decoded.spans.append(map_span(_pb_span(span, resource, scope, text)))
                except _Invalid as invalid:
                    decoded.rejected.append(Rejection(index, str(invalid)))
                index += 1
    return decoded


def _clean_valid_text(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """clean_text for a string protobuf has checked is UTF-8, so it holds no surrogate."""
    if len(value) <= limit and "\x00" not in value:
        return value
    return clean_text(value, limit)


def _clean_bytes(value: bytes, limit: int = MAX_TEXT_CHARS) -> str:
    return clean_text(value.decode("utf-8", "replace"), limit)


def _parse_with_byte_strings(body: bytes):
    try:
        request = _lenient_request_class()()
        request.ParseFromString(body)
    except DecodeError as error:
        raise OtlpDecodeError(f"body is not a valid OTLP protobuf export: {error}") from None
    return request


@functools.cache
def _lenient_request_class():
    """ExportTraceServiceRequest with every string field read as bytes (same wire format)."""
    pool = descriptor_pool.DescriptorPool()
    for file in _schema_files(ExportTraceServiceRequest.DESCRIPTOR.file):
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        for message in _all_messages(proto.message_type):
            for field_proto in message.field:
                if field_proto.type == field_proto.TYPE_STRING:
                    field_proto.type = field_proto.TYPE_BYTES
        pool.Add(proto)
    name = ExportTraceServiceRequest.DESCRIPTOR.full_name
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


def _schema_files(file) -> list:
    """The file and its dependencies, dependencies first."""
    ordered: list = []
    for dependency in file.dependencies:
        ordered.extend(f for f in _schema_files(dependency) if f not in ordered)
    return [*ordered, file]


def _all_messages(messages) -> list:
    found = []
    for message in messages:
        found.append(message)
        found.extend(_all_messages(message.nested_type))
    return found


def _pb_span(span, resource: dict, scope: str | None, text: Callable) -> RawSpan:
    trace_id = _pb_id(span.trace_id, 16, "trace_id")
    span_id = _pb_id(span.span_id, 8, "span_id")
    parent = span.parent_span_id
    start, end = _times(span.start_time_unix_nano, span.end_time_unix_nano)
    status = span.status
    return RawSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=_pb_id(parent, 8, "parent_span_id") if parent.strip(b"\0") else None,
        name=text(span.name, MAX_LABEL_CHARS),
        start_time=start,
        end_time=end,
        status=_STATUSES.get(status.code, "unset"),
        status_message=text(status.message) or None,
        attributes=_pb_attributes(span.attributes, text),
        events=[
            {
                "name": text(event.name, MAX_LABEL_CHARS),
                "time": _event_time(event.time_unix_nano),
                "attributes": _pb_attributes(event.attributes, text),
            }
            for event in span.events
        ],
        resource=resource,
        scope=scope,
    )


def _pb_id(raw: bytes, size: int, name: str) -> str:
    if len(raw) != size:
        raise _Invalid(f"{name} must be {size} bytes, got {len(raw)}")
    if not raw.strip(b"\0"):
        raise _Invalid(f"{name} is all zeros")
    return raw.hex()


def _pb_attributes(key_values, text: Callable) -> dict:
    attributes = {}
    known = _known_keys
    for kv in key_values:
        key, value = kv.key, kv.value
        # Most values are non-empty strings: reading one is cheaper than WhichOneof.
        string = value.string_value
        attributes[known.get(key) or _clean_key(key)] = (
            text(string) if string else _pb_value(value, text, 1)
        )
    return attributes


# Attribute keys repeat from span to span: clean each once. Bounded, as keys are input.
_known_keys: dict[str | bytes, str] = {}
_KNOWN_KEYS_LIMIT = 10_000


def _clean_key(key: str | bytes) -> str:
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    clean = clean_text(text, MAX_KEY_CHARS)
    if len(_known_keys) < _KNOWN_KEYS_LIMIT:
        _known_keys[key] = clean
    return clean


def _pb_value(value, text: Callable, depth: int) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return text(value.string_value)
    if kind == "int_value" or kind == "bool_value":
        return getattr(value, kind)
    if kind == "double_value":
        return finite_or_text(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind is None:
        return None
    if depth >= MAX_DEPTH:
        # The same JSON text as the OTLP/JSON path produces for this value.
        return stringify(json_format.MessageToDict(value))
    if kind == "array_value":
        return [_pb_value(item, text, depth + 1) for item in value.array_value.values]
    return {
        _clean_key(kv.key): _pb_value(kv.value, text, depth + 1) for kv in value.kvlist_value.values
    }


# ---------------------------------------------------------------------------
# Times


def _times(start_ns: int, end_ns: int) -> tuple[datetime, datetime | None]:
    if not start_ns:
        raise _Invalid("start time is missing")
    if not MIN_TIME_NS <= start_ns < MAX_TIME_NS:
        raise _Invalid(f"start time {start_ns} ns is outside years 2000-2099")
    if not end_ns:
        return _datetime(start_ns), None
    if not MIN_TIME_NS <= end_ns < MAX_TIME_NS:
        raise _Invalid(f"end time {end_ns} ns is outside years 2000-2099")
    if end_ns < start_ns:
        raise _Invalid("end time is before start time")
    return _datetime(start_ns), _datetime(end_ns)


def _datetime(ns: int) -> datetime:
    # Exact to the microsecond: whole microseconds up to 2100 fit a double's mantissa.
    return datetime.fromtimestamp(ns // 1000 / 1e6, UTC)


def _event_time(ns: int) -> str | None:
    return _datetime(ns).isoformat() if MIN_TIME_NS <= ns < MAX_TIME_NS else None


# ---------------------------------------------------------------------------
# OTLP/JSON


# OTLP/JSON uses lowerCamelCase field names; the protobuf JSON mapping also accepts
# the original snake_case ones.
def _camel(snake: str) -> str:
    first, *rest = snake.split("_")
    return first + "".join(word.title() for word in rest)


_MISSING = object()
_CAMEL = {
    name: _camel(name)
    for name in (
        "resource_spans",
        "scope_spans",
        "instrumentation_library_spans",
        "trace_id",
        "span_id",
        "parent_span_id",
        "start_time_unix_nano",
        "end_time_unix_nano",
        "time_unix_nano",
    )
}


def _get(obj: dict, name: str, default: Any = None) -> Any:
    """A field by its snake_case name, or by its lowerCamelCase spelling."""
    value = obj.get(_CAMEL.get(name, name), _MISSING)
    return obj.get(name, default) if value is _MISSING else value


def decode_json(body: bytes) -> DecodedExport:
    try:
        document = json.loads(body.decode("utf-8-sig", "replace"))
    except (ValueError, RecursionError) as error:
        raise OtlpDecodeError(f"body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise OtlpDecodeError("body must be a JSON object with a resourceSpans list")
    decoded = DecodedExport("json")
    index = 0
    for resource_spans in _json_list(document, "resource_spans"):
        for scope_spans, spans in _json_scopes(resource_spans):
            try:
                context, problem = _json_context(resource_spans, scope_spans), None
            except _Invalid as invalid:
                context, problem = None, str(invalid)
            for span in spans:
                try:
                    if problem:
                        raise _Invalid(problem)
                    decoded.spans.append(map_span(_json_span(span, *context)))
                except _Invalid as invalid:
                    decoded.rejected.append(Rejection(index, str(invalid)))
                index += 1
    return decoded


def _json_list(obj: Any, name: str) -> list:
    """A repeated field; a wrong shape here leaves no way to count spans, so refuse."""
    if not isinstance(obj, dict):
        raise OtlpDecodeError(f"expected an object holding {name}, got {type(obj).__name__}")
    value = _get(obj, name, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpDecodeError(f"{name} must be a list, got {type(value).__name__}")
    return value


def _json_scopes(resource_spans: Any) -> list[tuple[Any, list]]:
    scopes = _json_list(resource_spans, "scope_spans") or _json_list(
        resource_spans, "instrumentation_library_spans"
    )
    return [(scope_spans, _json_list(scope_spans, "spans")) for scope_spans in scopes]


def _json_context(resource_spans: dict, scope_spans: dict) -> tuple[dict, str | None]:
    """Resource attributes and scope name; a malformed one rejects the spans under it."""
    resource = resource_spans.get("resource") or {}
    scope = scope_spans.get("scope") or scope_spans.get("instrumentationLibrary") or {}
    if not isinstance(resource, dict) or not isinstance(scope, dict):
        raise _Invalid("resource and scope must be objects")
    name = clean_text(_json_str(scope.get("name"), "scope.name"), MAX_LABEL_CHARS)
    return _json_attributes(resource.get("attributes")), name or None


def _json_span(span: Any, resource: dict, scope: str | None) -> RawSpan:
    if not isinstance(span, dict):
        raise _Invalid(f"span must be an object, got {type(span).__name__}")
    parent = _get(span, "parent_span_id")
    status = span.get("status") or {}
    if not isinstance(status, dict):
        raise _Invalid("status must be an object")
    start, end = _times(
        _json_uint(_get(span, "start_time_unix_nano"), "startTimeUnixNano"),
        _json_uint(_get(span, "end_time_unix_nano"), "endTimeUnixNano"),
    )
    return RawSpan(
        trace_id=_json_id(_get(span, "trace_id"), 16, "traceId"),
        span_id=_json_id(_get(span, "span_id"), 8, "spanId"),
        parent_span_id=_json_id(parent, 8, "parentSpanId") if parent else None,
        name=clean_text(_json_str(span.get("name"), "name"), MAX_LABEL_CHARS),
        start_time=start,
        end_time=end,
        status=_STATUSES.get(_json_status_code(status.get("code")), "unset"),
        status_message=_json_str(status.get("message"), "status.message") or None,
        attributes=_json_attributes(span.get("attributes")),
        events=[_json_event(event) for event in _json_items(span.get("events"), "events")],
        resource=resource,
        scope=scope,
    )


def _json_id(value: Any, size: int, name: str) -> str | None:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise _Invalid(f"{name} must be {2 * size} hex characters")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise _Invalid(f"{name} must be {2 * size} hex characters") from None
    if not raw.strip(b"\0"):
        if name == "parentSpanId":
            return None
        raise _Invalid(f"{name} is all zeros")
    return value.lower()


def _json_str(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Invalid(f"{name} must be a string")
    return clean_text(value)


def _json_uint(value: Any, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _Invalid(f"{name} must be a non-negative integer or a string of digits")


def _json_status_code(code: Any) -> int:
    if isinstance(code, str):
        return _STATUS_NAMES.get(code, int(code) if code.isdigit() else 0)
    return code if isinstance(code, int) else 0


def _json_items(value: Any, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Invalid(f"{name} must be a list")
    return value


def _json_event(event: Any) -> dict:
    if not isinstance(event, dict):
        raise _Invalid("event must be an object")
    ns = _json_uint(_get(event, "time_unix_nano"), "event timeUnixNano")
    return {
        "name": clean_text(_json_str(event.get("name"), "event name"), MAX_LABEL_CHARS),
        "time": _event_time(ns),
        "attributes": _json_attributes(event.get("attributes")),
    }


def _json_attributes(key_values: Any, depth: int = 1) -> dict:
    attributes = {}
    known = _known_keys
    for kv in _json_items(key_values, "attributes"):
        key = kv.get("key") if isinstance(kv, dict) else None
        if not isinstance(key, str):
            raise _Invalid("each attribute must be an object with a string key")
        attributes[known.get(key) or _clean_key(key)] = _json_value(kv.get("value"), depth)
    return attributes


def _json_value(value: Any, depth: int) -> Any:
    """An OTLP/JSON AnyValue: {"stringValue": ...}, {"intValue": "12"}, ..."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Invalid("attribute value must be an AnyValue object")
    for key, item in value.items():
        read = _JSON_VALUE_READERS.get(key)
        if read is None:
            continue
        if depth >= MAX_DEPTH and read in _JSON_NESTED_READERS:
            return stringify(value)
        return read(item, depth)
    return None


def _json_string_value(item: Any, depth: int) -> str:
    return _json_str(item, "stringValue")


def _json_int_value(item: Any, depth: int) -> int:
    if isinstance(item, str) and item.lstrip("-").isdigit() and len(item) < 21:
        item = int(item)
    if isinstance(item, int) and not isinstance(item, bool) and _INT64_MIN <= item <= _INT64_MAX:
        return item
    raise _Invalid("intValue must be a 64-bit integer")


def _json_double_value(item: Any, depth: int) -> float | str:
    if item in ("NaN", "Infinity", "-Infinity"):
        return item
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return finite_or_text(float(item))
    raise _Invalid("doubleValue must be a number")


def _json_bool_value(item: Any, depth: int) -> bool:
    if not isinstance(item, bool):
        raise _Invalid("boolValue must be true or false")
    return item


def _json_bytes_value(item: Any, depth: int) -> str:
    try:
        return base64.b64encode(base64.b64decode(item, validate=True)).decode("ascii")
    except (binascii.Error, TypeError, ValueError):
        raise _Invalid("bytesValue must be base64") from None


def _json_array_value(item: Any, depth: int) -> list:
    values = _json_items(item.get("values") if isinstance(item, dict) else None, "arrayValue")
    return [_json_value(value, depth + 1) for value in values]


def _json_kvlist_value(item: Any, depth: int) -> dict:
    return _json_attributes(item.get("values") if isinstance(item, dict) else None, depth + 1)


_JSON_VALUE_READERS = {
    spelling: reader
    for name, reader in {
        "string_value": _json_string_value,
        "int_value": _json_int_value,
        "double_value": _json_double_value,
        "bool_value": _json_bool_value,
        "bytes_value": _json_bytes_value,
        "array_value": _json_array_value,
        "kvlist_value": _json_kvlist_value,
    }.items()
    for spelling in (name, _camel(name))
}
_JSON_NESTED_READERS = (_json_array_value, _json_kvlist_value)
