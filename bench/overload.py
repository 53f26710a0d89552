"""Ingestion under 20x overload: throughput kept, refusals at once (issue 10, section 4).

    .venv/bin/python bench/overload.py [--runs 2] [--seconds 15] [--factor 20] [--traces 20]

Starts `sextant serve` (non-embedded, as deployed) on a scratch database it creates and
drops, then per run two phases of `--seconds` each, on loopback:
- unloaded: as many clients as the server admits ingestion requests at once
  (SEXTANT_INGEST_MAX_IN_FLIGHT, 16), so none is ever refused;
- overloaded: `--factor` times as many clients (320).
Each client is one keep-alive HTTP/1.1 connection posting OTLP protobuf exports of
`--traces` agent traces (5 spans each, ~1.5 KB a span, the workload of bench/ingest.py,
each export under new trace ids) one after another, as an OTLP exporter does: on 503 it
waits the Retry-After the server sent and posts the same export again. When the phase
ends no new export starts; those in flight finish. The spans the `span` table gained,
over the phase's wall time, are the durable rate (the server answers 2xx only after its
commit). The ratio overloaded / unloaded is the same-run reference: the target is >= 0.80.
Prints per phase: spans/s, accepted-request latency p50/p95, refusals (503) and the time
a refusal took (time-to-503) p50/p95/max, and any other status.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import (count_spans, cpu_seconds, create_api_key, live_server, percentile,  # noqa: E402
                          record_trace, scratch_database, server_processes)
from tests.core.rawhttp import RawClient  # noqa: E402
from tests.live import free_port  # noqa: E402

SPANS_PER_TRACE = 5


@dataclass
class Phase:
    name: str
    clients: int
    seconds: float = 0.0
    spans: int = 0
    accepted: list[float] = field(default_factory=list)  # latency of each 2xx request
    refused: list[float] = field(default_factory=list)  # latency of each 503
    others: dict[int, int] = field(default_factory=dict)
    server_cpu: float = 0.0  # CPU seconds of the server process
    client_cpu: float = 0.0  # and of this process, the clients (they share the machine's cores)

    @property
    def rate(self) -> float:
        return self.spans / self.seconds


class Exports:
    """Export bodies of the same traces under new trace ids each time (no duplicates)."""

    def __init__(self, traces: int):
        from tests.traces.otlp_bodies import sdk_request

        self.template = sdk_request(lambda tracer: [record_trace(tracer, n) for n in range(traces)])
        self.spans = sum(len(scope.spans) for resource in self.template.resource_spans
                         for scope in resource.scope_spans)
        self.next = 0

    def body(self) -> bytes:
        self.next += 1
        renamed: dict[bytes, bytes] = {}
        for resource in self.template.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    span.trace_id = renamed.setdefault(
                        span.trace_id, (self.next << 32 | len(renamed) + 1).to_bytes(16, "big"))
        return self.template.SerializeToString()


async def client_loop(port: int, api_key: str, exports: Exports, deadline: float, phase: Phase) -> None:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/x-protobuf"}
    client = RawClient("127.0.0.1", port)
    try:
        while time.monotonic() < deadline:
            body = exports.body()
            while True:
                started = time.perf_counter()
                answer = await asyncio.wait_for(client.request("POST", "/v1/traces", headers, body), 60)
                took = time.perf_counter() - started
                if answer.status == 503:
                    phase.refused.append(took)
                    wait = float(answer.headers.get("retry-after", "1"))
                    if time.monotonic() + wait >= deadline:
                        return
                    await asyncio.sleep(wait)
                    continue
                if 200 <= answer.status < 300:
                    phase.accepted.append(took)
                else:
                    phase.others[answer.status] = phase.others.get(answer.status, 0) + 1
                break
    finally:
        await client.close()


def run_phase(name: str, clients: int, seconds: float, server, api_key: str, exports: Exports,
              database_url: str) -> Phase:
    phase = Phase(name, clients)
    before = count_spans(database_url)
    port, servers = server
    server_before, client_before = cpu_used(servers), time.process_time()

    async def everyone() -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(client_loop(port, api_key, exports, deadline, phase) for _ in range(clients)))

    started = time.perf_counter()
    asyncio.run(everyone())
    phase.seconds = time.perf_counter() - started
    phase.server_cpu = cpu_used(servers) - server_before
    phase.client_cpu = time.process_time() - client_before
    phase.spans = count_spans(database_url) - before
    return phase


def cpu_used(processes) -> float:
    return sum(cpu_seconds(processes).values())


def describe(phase: Phase) -> str:
    ms = lambda values, q: percentile(values, q) * 1000  # noqa: E731
    refused = (f"503 x{len(phase.refused):,} in {ms(phase.refused, 0.5):.1f}/{ms(phase.refused, 0.95):.1f}/"
               f"{max(phase.refused) * 1000:.1f} ms (p50/p95/max)" if phase.refused else "503 x0")
    return (f"{phase.name:<10} {phase.clients:4d} clients  {phase.rate:7,.0f} spans/s "
            f"({phase.spans:,} spans, {phase.seconds:4.1f} s)  accepted x{len(phase.accepted):,} "
            f"p50 {ms(phase.accepted, 0.5):6.0f} ms p95 {ms(phase.accepted, 0.95):6.0f} ms  {refused}  "
            f"CPU s: server {phase.server_cpu:.1f}, clients {phase.client_cpu:.1f}"
            f"{f'  other statuses {phase.others}' if phase.others else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--factor", type=int, default=20, help="overload: this many times the in-flight limit")
    parser.add_argument("--traces", type=int, default=20, help=f"traces per export ({SPANS_PER_TRACE} spans each)")
    args = parser.parse_args()
    if not 1 <= args.factor <= 50 or not 1 <= args.seconds <= 120:
        parser.error("keep it bounded: --factor 1..50, --seconds 1..120")

    from app.core.settings import limits_settings

    limit = limits_settings().ingest_max_in_flight
    exports = Exports(args.traces)
    print(f"in-flight limit {limit}; exports of {exports.spans} spans; phases of {args.seconds:.0f} s; "
          f"unloaded {limit} clients, overloaded {limit * args.factor}")
    pairs = []
    with scratch_database() as database_url:
        api_key = create_api_key(database_url)
        port = free_port()
        with live_server(database_url, port) as process:
            server = (port, server_processes(process.pid))
            run_phase("warm-up", 2, 2, server, api_key, exports, database_url)
            for _ in range(args.runs):
                unloaded = run_phase("unloaded", limit, args.seconds, server, api_key, exports, database_url)
                print(describe(unloaded))
                overloaded = run_phase("overloaded", limit * args.factor, args.seconds, server, api_key, exports,
                                       database_url)
                print(describe(overloaded))
                pairs.append((unloaded, overloaded))
    median = statistics.median
    unloaded_rate, overloaded_rate = median(u.rate for u, _ in pairs), median(o.rate for _, o in pairs)
    refused = [t for _, o in pairs for t in o.refused]
    accepted = [t for _, o in pairs for t in o.accepted]
    print(f"\nmedian of {len(pairs)} runs: unloaded {unloaded_rate:,.0f} spans/s, {args.factor}x overloaded "
          f"{overloaded_rate:,.0f} spans/s, ratio {median(o.rate / u.rate for u, o in pairs):.2f} (target >= 0.80)")
    print(f"overloaded: accepted p50 {percentile(accepted, 0.5) * 1000:.0f} ms, "
          f"p95 {percentile(accepted, 0.95) * 1000:.0f} ms; {len(refused):,} refusals, time-to-503 "
          f"p50 {percentile(refused, 0.5) * 1000:.1f} ms, p95 {percentile(refused, 0.95) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
