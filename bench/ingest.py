"""End-to-end ingestion: the real OpenTelemetry SDK exporting to a live Sextant server.

    .venv/bin/python bench/ingest.py [--runs 3] [--exporters 6] [--traces 1000]
                                     [--record-live | --encoded-ahead]

Starts `sextant serve` (non-embedded, as deployed) on a scratch database it creates
and drops, sends one warm-up export, then per run:
- `--exporters` processes each hold `--traces` traces of an LLM app recorded with the
  real SDK (an agent root, two chat spans with gen_ai.* messages and usage, two tool
  spans; ~1.5 KB per span on the wire). When the clock starts they hand the finished
  spans to a BatchSpanProcessor (512 per export) whose real OTLPSpanExporter posts
  protobuf to the server. With --record-live the spans are recorded inside the timed
  window instead, so the app's own span-making CPU counts too; with --encoded-ahead
  the exporter's encoder makes the bodies before the clock and plain HTTP requests
  post them, which leaves only the server and Postgres in the window (capacity);
- the clock stops when every exporter's flush has returned; only then are the rows of
  the `span` table counted. As the server answers 2xx only after its commit, that
  count over the wall time is the durable rate;
- the reference: raw psycopg binary COPY of the same kind of rows (decoded from the
  same workload, JSON already encoded) into a copy of the `span` table with its
  indexes, in 512-row transactions, one connection — the database's own ceiling for
  these rows on this machine at that moment.
Prints per run and the median over runs: durable spans/s, the ratio to the
reference, client request latency p50/p95 (per 512-span export), the server's peak
RSS (all its processes), and where the CPU went: the server, its Postgres backends,
the exporters (they share the cores with the server) and other processes on the
machine. From the CPU per span it also derives what the same cores would sustain if
nothing else ran on them, with and without the exporters' share.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.scratch import conninfo, drop_database, recreate_database  # noqa: E402

SPANS_PER_TRACE = 5
REFERENCE_BATCH = 512
WORDS = ("the flight from new york to seattle departs at eleven and arrives in the evening "
         "please confirm my booking and the baggage allowance for two passengers").split()


# ---------------------------------------------------------------------------
# The workload: what an instrumented agent records


def prose(chars: int, seed: int) -> str:
    words = [WORDS[(seed + i * 7) % len(WORDS)] for i in range(chars // 4)]
    return " ".join(words)[:chars]


def text_message(role: str, content: str) -> dict:
    return {"role": role, "parts": [{"type": "text", "content": content}]}


def record_trace(tracer, n: int) -> None:
    """One agent turn: the agent's root span, then twice a chat call and a tool call."""
    common = {"session.id": f"session-{n % 97}", "user.id": f"user-{n % 31}"}
    question, answer = prose(300, n), prose(500, n + 3)
    with tracer.start_as_current_span("invoke_agent support", attributes={
        **common, "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support",
        "gen_ai.input.messages": json.dumps([text_message("user", question)]),
        "gen_ai.output.messages": json.dumps([text_message("assistant", answer)]),
    }):
        for turn in range(2):
            with tracer.start_as_current_span("chat gpt-4o", attributes={**common, **chat(n, turn, question)}):
                pass
            with tracer.start_as_current_span("execute_tool search_flights",
                                              attributes={**common, **tool(n, turn)}):
                pass


def chat(n: int, turn: int, question: str) -> dict:
    reply = prose(700, n + turn)
    return {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": prose(250, n)}]),
        "gen_ai.input.messages": json.dumps([text_message("user", question)]),
        "gen_ai.output.messages": json.dumps([text_message("assistant", reply)]),
        "gen_ai.usage.input_tokens": 180 + n % 50, "gen_ai.usage.output_tokens": 160,
        "gen_ai.usage.cache_read.input_tokens": 64, "gen_ai.response.finish_reasons": ["stop"],
    }


def tool(n: int, turn: int) -> dict:
    return {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search_flights",
        "gen_ai.tool.call.id": f"call_{n}_{turn}",
        "gen_ai.tool.call.arguments": json.dumps({"origin": "JFK", "destination": "SEA", "day": turn}),
        "gen_ai.tool.call.result": json.dumps([{"flight": f"HAT{n % 1000:03}", "note": prose(700, n)}]),
    }


# ---------------------------------------------------------------------------
# Exporter processes


class TimedSession(requests.Session):
    """The exporter's HTTP session, noting each request's latency and status."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[float, int]] = []

    def request(self, *args, **kwargs):
        started = time.perf_counter()
        response = super().request(*args, **kwargs)
        self.requests.append((time.perf_counter() - started, response.status_code))
        return response


def exporter_process(index: int, url: str, api_key: str, args, ready, start, results) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    session = TimedSession()
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"Authorization": f"Bearer {api_key}"},
                                session=session, timeout=60)
    # A queue that holds the whole run: a full queue drops spans, which would be the
    # client's loss, not the server's.
    processor = BatchSpanProcessor(exporter, max_queue_size=args.traces * SPANS_PER_TRACE + 1,
                                   max_export_batch_size=512, schedule_delay_millis=200)
    recorded = [] if args.record_live else recorded_spans(index, args.traces)
    bodies = encoded_exports(recorded) if args.encoded_ahead else []
    ready.put(index)
    start.wait()
    cpu = time.process_time()
    if args.record_live:
        provider = provider_with(index, processor)
        record_traces(provider.get_tracer("bench.ingest"), index, args.traces)
    elif args.encoded_ahead:
        post_bodies(session, f"{url}/v1/traces", api_key, bodies)
    else:
        for span in recorded:  # what span.end() does with each finished span
            processor.on_end(span)
    flushed = processor.force_flush(timeout_millis=600_000)
    results.put({"flushed": flushed, "cpu": time.process_time() - cpu, "requests": session.requests})
    processor.shutdown()


def encoded_exports(spans: list) -> list[bytes]:
    """The bodies the exporter would send for these spans, 512 a request, encoded by its own encoder."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return [encode_spans(spans[i:i + 512]).SerializePartialToString() for i in range(0, len(spans), 512)]


def post_bodies(session: requests.Session, endpoint: str, api_key: str, bodies: list[bytes]) -> None:
    """Post export bodies one after another, as the exporter would, failing loudly."""
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/x-protobuf"}
    for body in bodies:
        session.post(endpoint, data=body, headers=headers, timeout=60).raise_for_status()


def provider_with(index: int, processor):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({"service.name": f"bench-agent-{index}"}))
    provider.add_span_processor(processor)
    return provider


def record_traces(tracer, index: int, traces: int) -> None:
    for n in range(traces):
        record_trace(tracer, index * 1_000_000 + n)


def recorded_spans(index: int, traces: int) -> list:
    """The finished spans of `traces` traces, recorded by the SDK ahead of the clock."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = provider_with(index, SimpleSpanProcessor(memory))
    record_traces(provider.get_tracer("bench.ingest"), index, traces)
    return list(memory.get_finished_spans())


# ---------------------------------------------------------------------------
# The server and its database


@contextmanager
def scratch_database():
    from app.core import migrate

    name = f"sextant_bench_ingest_{os.getpid()}"
    url = recreate_database(name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop_database(name)


def create_api_key(database_url: str) -> str:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.accounts.models import Organization
    from app.accounts.service import create_api_key as new_key
    from app.accounts.service import create_project

    engine = create_engine(database_url)
    with Session(engine) as session:
        organization = Organization(name="Bench")
        session.add(organization)
        session.flush()
        project = create_project(session, organization_id=organization.id, name="Bench", actor="bench")
        _, plain = new_key(session, project, actor="bench")
        session.commit()
    engine.dispose()
    return plain


@contextmanager
def live_server(database_url: str, port: int):
    from tests.live import stop_process, wait_until_healthy

    redis_db = 1 + os.getpid() % 15
    env = {**os.environ, "SEXTANT_DATABASE_URL": database_url, "SEXTANT_SECRET_KEY": "bench-secret",
           "SEXTANT_REDIS_URL": os.environ.get("SEXTANT_BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}")}
    # As deployed: `sextant serve` with a database and Redis configured. Its log goes to a
    # file (a pipe nobody reads would fill up and stall the server), shown if it fails.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
                                    "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log)
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", process)
            yield process
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:].decode(errors="replace"))
            raise
        finally:
            stop_process(process)


class PeakRss:
    """Samples the resident memory of a process and all its children."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(p.memory_info().rss for p in self._tree()))
            self._stop.wait(self.interval)

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.process, *self.process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds so far of each process still alive, by pid."""
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def server_processes(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def database_backends(database_url: str) -> list[psutil.Process]:
    """The Postgres backends serving our scratch database (the server's pooled connections)."""
    name = make_url(database_url).database
    with psycopg.connect(conninfo(database_url)) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))]
    return [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)]


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy, all processes and cores."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq  # guest time is in user


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


# ---------------------------------------------------------------------------
# One run


@dataclass
class RunResult:
    spans_recorded: int
    spans_stored: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    exporter_cpu: float
    server_cpu: float
    database_cpu: float
    machine_cpu: float
    peak_rss: int
    all_flushed: bool
    reference_rate: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def others_cpu(self) -> float:
        """CPU seconds used meanwhile by processes outside the bench (a shared machine)."""
        return max(0.0, self.machine_cpu - self.server_cpu - self.database_cpu - self.exporter_cpu)

    @property
    def rate(self) -> float:
        return self.spans_stored / self.seconds


def run_load(server: subprocess.Popen, url: str, database_url: str, api_key: str, args) -> RunResult:
    context = multiprocessing.get_context("spawn")
    ready, start, results = context.Queue(), context.Event(), context.Queue()
    workers = [context.Process(target=exporter_process, args=(i, url, api_key, args, ready, start, results))
               for i in range(args.exporters)]
    for worker in workers:
        worker.start()
    for _ in workers:  # the clock starts once every exporter has imported the SDK (and recorded)
        ready.get()
    servers = server_processes(server.pid)
    # Backends opened during the run are counted from zero; those before, from now.
    backends_before = cpu_seconds(database_backends(database_url))
    server_before = cpu_seconds(servers)
    machine_before = machine_busy_seconds()
    with PeakRss(server.pid) as rss:
        started = time.perf_counter()
        start.set()
        reports = [results.get() for _ in workers]
        seconds = time.perf_counter() - started
    machine_cpu = machine_busy_seconds() - machine_before
    server_cpu = cpu_used(server_before, cpu_seconds(servers))
    database_cpu = cpu_used(backends_before, cpu_seconds(database_backends(database_url)))
    for worker in workers:
        worker.join()
    requests_made = [r for report in reports for r in report["requests"]]
    statuses: dict[int, int] = {}
    for _, status in requests_made:
        statuses[status] = statuses.get(status, 0) + 1
    return RunResult(
        spans_recorded=args.exporters * args.traces * SPANS_PER_TRACE,
        spans_stored=count_spans(database_url), seconds=seconds,
        latencies=[latency for latency, status in requests_made if 200 <= status < 300],
        statuses=statuses, exporter_cpu=sum(r["cpu"] for r in reports), server_cpu=server_cpu,
        database_cpu=database_cpu, machine_cpu=machine_cpu,
        peak_rss=rss.peak, all_flushed=all(r["flushed"] for r in reports))


def count_spans(database_url: str) -> int:
    with psycopg.connect(conninfo(database_url)) as conn:
        return conn.execute("SELECT count(*) FROM span").fetchone()[0]


def empty_tables(database_url: str) -> None:
    with psycopg.connect(conninfo(database_url), autocommit=True) as conn:
        conn.execute("TRUNCATE trace, span RESTART IDENTITY CASCADE")
        conn.execute("VACUUM ANALYZE trace")
        conn.execute("VACUUM ANALYZE span")


# ---------------------------------------------------------------------------
# The reference: raw COPY of equivalent rows


def reference_rows(count: int) -> list[tuple]:
    """`count` span rows as the server would store them, decoded from the same workload
    (1,000 traces' worth, repeated under new trace ids)."""
    from app.traces import repository
    from app.traces.otlp import decode_export
    from tests.traces.otlp_bodies import sdk_request

    request = sdk_request(lambda tracer: [record_trace(tracer, n) for n in range(1000)])
    records = decode_export(request.SerializeToString(), "application/x-protobuf").spans
    trace_numbers = {trace_id: n for n, trace_id in enumerate(sorted({r.trace_id for r in records}))}
    renamed = {"external_id": "span_id", "parent_external_id": "parent_span_id"}
    rows = []
    for record in records:
        values = [trace_numbers[record.trace_id]]
        for column in repository.SPAN_COLUMNS[1:]:
            value = getattr(record, renamed.get(column, column))
            if column in repository.SPAN_JSON_COLUMNS:
                value = None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            values.append(value)
        rows.append(tuple(values))
    copies = -(-count // len(rows))
    return [(row[0] + copy * len(trace_numbers), *row[1:]) for copy in range(copies) for row in rows][:count]


def reference_rate(database_url: str, rows: list[tuple]) -> float:
    """Rows per second by binary COPY (the fastest way in) of ready rows, JSON already text."""
    from psycopg.types.json import set_json_dumps

    from app.traces.repository import SPAN_COLUMNS, SPAN_COPY_TYPES

    columns = ", ".join(SPAN_COLUMNS)
    with psycopg.connect(conninfo(database_url)) as conn:
        conn.execute("DROP TABLE IF EXISTS span_reference")
        conn.execute("CREATE TABLE span_reference (LIKE span INCLUDING ALL)")
        conn.commit()
        set_json_dumps(str, context=conn)  # the JSON columns hold their text already
        started = time.perf_counter()
        for offset in range(0, len(rows), REFERENCE_BATCH):
            with conn.cursor().copy(f"COPY span_reference ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(SPAN_COPY_TYPES)
                for row in rows[offset:offset + REFERENCE_BATCH]:
                    copy.write_row(row)
            conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE span_reference")
        conn.commit()
    return len(rows) / seconds


# ---------------------------------------------------------------------------
# Report


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def describe(run: RunResult) -> str:
    lost = run.spans_recorded - run.spans_stored
    return (f"{run.rate:8,.0f} spans/s durable ({run.spans_stored:,} of {run.spans_recorded:,} stored"
            f"{f', {lost:,} MISSING' if lost else ''}, {run.seconds:5.1f} s)  "
            f"reference {run.reference_rate:8,.0f}/s  ratio {run.rate / run.reference_rate:4.2f}  "
            f"p50 {percentile(run.latencies, 0.5) * 1000:5.0f} ms  "
            f"p95 {percentile(run.latencies, 0.95) * 1000:5.0f} ms  "
            f"RSS {run.peak_rss / 2**20:4.0f} MB  "
            f"CPU s: server {run.server_cpu:5.1f}, postgres {run.database_cpu:5.1f}, "
            f"exporters {run.exporter_cpu:5.1f}, others {run.others_cpu:5.1f}  "
            f"statuses {run.statuses}")


def summarize(runs: list[RunResult]) -> None:
    median = statistics.median
    rate, reference = median(r.rate for r in runs), median(r.reference_rate for r in runs)
    latencies = [latency for r in runs for latency in r.latencies]
    server_rate = median(r.spans_stored / r.server_cpu for r in runs)
    print(f"\nmedian of {len(runs)} runs: {rate:,.0f} spans/s end-to-end durable; "
          f"reference (raw COPY) {reference:,.0f} rows/s; ratio {rate / reference:.2f}")
    print(f"request latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
          f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms (all runs' 2xx requests)")
    print(f"server peak RSS {max(r.peak_rss for r in runs) / 2**20:.0f} MB (max over runs)")
    print(f"server: {server_rate:,.0f} spans per server CPU-second; exporters used "
          f"{median(r.exporter_cpu / r.seconds for r in runs):.2f} of the 2 cores, the server "
          f"{median(r.server_cpu / r.seconds for r in runs):.2f}, its Postgres backends "
          f"{median(r.database_cpu / r.seconds for r in runs):.2f}, other processes on the machine "
          f"{median(r.others_cpu / r.seconds for r in runs):.2f}")
    per_span = {name: median(getattr(r, f"{name}_cpu") / r.spans_stored for r in runs)
                for name in ("server", "database", "exporter")}
    print(f"CPU per span: server {per_span['server'] * 1e6:.0f} us, its Postgres backends "
          f"{per_span['database'] * 1e6:.0f} us, exporters {per_span['exporter'] * 1e6:.0f} us")
    cores = os.cpu_count() or 2
    print(f"derived, if these {cores} cores ran nothing else: {cores / sum(per_span.values()):,.0f} spans/s "
          f"with the exporters on them too, {cores / (per_span['server'] + per_span['database']):,.0f} "
          f"without (server and Postgres only)")
    missing = sum(r.spans_recorded - r.spans_stored for r in runs)
    if missing or not all(r.all_flushed for r in runs):
        print(f"WARNING: {missing} recorded spans were not stored or a flush timed out")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--exporters", type=int, default=6, help="exporter processes (each one export in flight)")
    parser.add_argument("--traces", type=int, default=1000, help=f"traces per exporter ({SPANS_PER_TRACE} spans each)")
    parser.add_argument("--record-live", action="store_true",
                        help="record the spans inside the timed window (the app's own span-making CPU counts "
                             "too); by default they are recorded before it and fed to the BatchSpanProcessor")
    parser.add_argument("--encoded-ahead", action="store_true",
                        help="encode the export bodies before the clock too and post them with plain HTTP "
                             "requests: takes the exporter's encoding CPU out of the window (server capacity)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    from tests.live import free_port

    rows = reference_rows(args.exporters * args.traces)
    size = statistics.mean(len(span.SerializeToString()) for span in wire_spans(20))
    print(f"workload: {args.exporters} exporter processes x {args.traces} traces x {SPANS_PER_TRACE} spans, "
          f"{size:,.0f} bytes per span on the wire (protobuf); {os.cpu_count()} cores")
    with scratch_database() as database_url:
        api_key = create_api_key(database_url)
        port = args.port or free_port()
        with live_server(database_url, port) as server:
            warm_up(f"http://127.0.0.1:{port}", api_key)
            runs = []
            for number in range(1, args.runs + 1):
                empty_tables(database_url)
                run = run_load(server, f"http://127.0.0.1:{port}", database_url, api_key, args)
                run.reference_rate = reference_rate(database_url, rows)
                print(f"run {number}: {describe(run)}", flush=True)
                runs.append(run)
    summarize(runs)


def warm_up(url: str, api_key: str) -> None:
    """One small export first, so that lazy imports and first connections are not timed."""
    from tests.traces.otlp_bodies import sdk_request

    body = sdk_request(lambda tracer: [record_trace(tracer, n) for n in range(10)]).SerializeToString()
    response = httpx.post(f"{url}/v1/traces", content=body, timeout=60, headers={
        "Authorization": f"Bearer {api_key}", "Content-Type": "application/x-protobuf"})
    response.raise_for_status()


def wire_spans(traces: int) -> list:
    from tests.traces.otlp_bodies import sdk_request

    request = sdk_request(lambda tracer: [record_trace(tracer, n) for n in range(traces)])
    return [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


if __name__ == "__main__":
    main()
