"""OTLP metrics: accepted per the spec with a partial success saying they are not stored,
so an SDK exporting metrics next to its traces does not log an error every interval."""

import gzip
import json

import httpx
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult

from tests.traces.test_otlp_live import project_key


def two_metrics_json() -> dict:
    """A token-usage histogram with two attribute sets and a request counter: 3 data points."""
    point = {"timeUnixNano": "1700000000000000000", "count": "1", "sum": 12, "bucketCounts": ["1"]}
    return {"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [{"metrics": [
        {"name": "gen_ai.client.token.usage", "histogram": {"dataPoints": [point, point], "aggregationTemporality": 2}},
        {"name": "requests", "sum": {"dataPoints": [{"asInt": "4", "timeUnixNano": "1700000000000000000"}],
                                     "isMonotonic": True, "aggregationTemporality": 2}},
    ]}]}]}


def test_the_stock_metric_exporter_succeeds_and_learns_nothing_is_stored(live):
    key = project_key(live.database_url)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("tests.metrics")
    counter = meter.create_counter("gen_ai.requests")
    counter.add(1, {"model": "gpt-4o"})
    counter.add(2, {"model": "gpt-4o-mini"})
    meter.create_histogram("gen_ai.client.operation.duration").record(0.4)
    exported = reader.get_metrics_data()
    provider.shutdown()

    exporter = OTLPMetricExporter(endpoint=f"{live.url}/v1/metrics", headers={"Authorization": f"Bearer {key}"})
    assert exporter.export(exported) == MetricExportResult.SUCCESS

    # The same body as the exporter sends, to read the answer it only logs.
    protobuf = httpx.post(f"{live.url}/v1/metrics", content=encode_metrics(exported).SerializeToString(),
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf"})
    assert protobuf.headers["content-type"] == "application/x-protobuf"
    answer = ExportMetricsServiceResponse.FromString(protobuf.content)
    assert answer.partial_success.rejected_data_points == 3  # two counter series, one histogram
    assert "not store metrics" in answer.partial_success.error_message


def test_json_gzip_metrics_get_a_json_partial_success_and_bad_bodies_a_400(live):
    key = project_key(live.database_url)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    answer = httpx.post(f"{live.url}/v1/metrics", headers=headers,
                        content=gzip.compress(json.dumps(two_metrics_json()).encode()))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedDataPoints"] == "3"
    assert "not store metrics" in partial["errorMessage"]

    broken = httpx.post(f"{live.url}/v1/metrics", headers={**headers, "Content-Encoding": "identity"},
                        content=b'{"resourceMetrics": 7}')
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_otlp"
    anonymous = httpx.post(f"{live.url}/v1/metrics", content=b"{}", headers={"Content-Type": "application/json"})
    assert anonymous.status_code == 401
