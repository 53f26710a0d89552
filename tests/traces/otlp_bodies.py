"""OTLP export bodies for tests and benches, made with the real OpenTelemetry SDK."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable

from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def sdk_request(
    record: Callable[[trace.Tracer], None],
    resource: dict | None = None,
    id_generator: IdGenerator | None = None,
) -> ExportTraceServiceRequest:
    """The export request the OTLP exporter would send for the spans `record` makes."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(resource or {"service.name": "test"}), id_generator=id_generator
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    record(provider.get_tracer("tests.traces"))
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON of a request: the protobuf JSON mapping, but ids in hex, as OTLP requires."""
    document = json_format.MessageToDict(request)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for name in _ID_FIELDS:
                    if name in span:
                        span[name] = base64.b64decode(span[name]).hex()
    return json.dumps(document).encode()


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=5)
