"""Faults under continuous ingestion: is any acknowledged span or job lost, or done twice?

    .venv/bin/python bench/chaos.py [--phase-seconds 15] [--posters 4] [--lease 15]
                                    [--faults web,worker,redis,postgres,overload]

Starts `sextant serve` as a new user gets it (embedded PostgreSQL and Redis, web,
worker and beat under the supervisor) in a scratch data dir, with one project, an API
key and an active rule evaluator (it fails outputs promising "a refund within N days").
Then, per fault, `--posters` threads post OTLP/JSON exports on loopback (5 traces of 2
spans each; every third trace fails the rule), retrying on any error or non-200 like
an OTel exporter; a response of 200 acknowledges its spans. After a few seconds of
steady load the fault is injected:
- web: kill -9 of the web server process;
- worker: kill -9 of the Celery worker and its pool;
- redis: kill -9 of Redis (the supervisor starts it again);
- postgres: kill -9 of the postmaster (the supervisor starts it again);
- overload: 20x the normal concurrency (16 in flight is the server's limit: 320 posters).
Load goes on for `--phase-seconds`, stops, and the bench waits until every acknowledged
trace has its online verdict and the job outbox is empty (or gives up after
`--settle-timeout`). Per fault it prints spans acknowledged and stored, acknowledged
spans missing ("lost"), acknowledged traces without their online evaluation ("jobs
lost"), outbox rows never done, duplicated rows (spans per span id, verdicts per
trace), how long ingestion took to acknowledge again after the fault, and how long
the evaluation backlog took to drain once load stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
import psycopg  # noqa: E402

from bench.scratch import conninfo  # noqa: E402
from tests.live import free_port, wait_until_healthy  # noqa: E402

TRACES_PER_EXPORT = 5
FAILING = "Sure, you can get a refund within 30 days."
PASSING = "Refunds follow the policy on our website."
RULE_CLAUSES = [{"field": "output", "kind": "regex", "pattern": r"refund within \d+ days", "negate": False}]
IN_FLIGHT_LIMIT = 16
GIVE_UP_AFTER_S = 120.0


def attribute(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def export_body(rng: random.Random) -> tuple[bytes, list[str], list[str]]:
    """One OTLP/JSON export: its body, its trace ids and its span ids (hex, as stored)."""
    now = time.time_ns()
    spans, trace_ids, span_ids = [], [], []
    for _ in range(TRACES_PER_EXPORT):
        trace_id, root, child = rng.randbytes(16).hex(), rng.randbytes(8).hex(), rng.randbytes(8).hex()
        output = FAILING if rng.random() < 1 / 3 else PASSING
        spans.append({"traceId": trace_id, "spanId": root, "name": "agent", "kind": 1,
                      "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 2_000_000),
                      "attributes": [attribute("input.value", "Can I get my money back?"),
                                     attribute("output.value", output)]})
        spans.append({"traceId": trace_id, "spanId": child, "parentSpanId": root, "name": "chat", "kind": 3,
                      "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1_000_000),
                      "attributes": [attribute("gen_ai.operation.name", "chat")]})
        trace_ids.append(trace_id)
        span_ids += [root, child]
    body = {"resourceSpans": [{"resource": {"attributes": [attribute("service.name", "chaos")]},
                               "scopeSpans": [{"scope": {"name": "chaos"}, "spans": spans}]}]}
    return json.dumps(body).encode(), trace_ids, span_ids


@dataclass
class Tally:
    """What the clients saw: acknowledged ids, when, and the answers that were not 200."""

    acked_traces: set[str] = field(default_factory=set)
    acked_spans: set[str] = field(default_factory=set)
    ack_times: list[float] = field(default_factory=list)
    failure_times: list[float] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)
    abandoned: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acked(self, traces: list[str], spans: list[str]) -> None:
        with self.lock:
            self.acked_traces.update(traces)
            self.acked_spans.update(spans)
            self.ack_times.append(time.monotonic())

    def refused(self, why: str) -> None:
        with self.lock:
            self.refusals[why] = self.refusals.get(why, 0) + 1
            self.failure_times.append(time.monotonic())


def poster(url: str, key: str, tally: Tally, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        while not stop.is_set():
            body, traces, spans = export_body(rng)
            give_up_at = time.monotonic() + GIVE_UP_AFTER_S
            while time.monotonic() < give_up_at:
                try:
                    answer = client.post("/v1/traces", content=body)
                    if answer.status_code == 200:
                        tally.acked(traces, spans)
                        break
                    tally.refused(str(answer.status_code))
                except httpx.HTTPError as error:
                    tally.refused(type(error).__name__)
                time.sleep(0.2 + rng.random() * 0.3)  # retry, as exporters do
            else:
                tally.abandoned += 1


class Load:
    def __init__(self, url: str, key: str, posters: int, tally: Tally):
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=poster, args=(url, key, tally, self.stop, random.randrange(2**32)),
                                         daemon=True) for _ in range(posters)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        """Stop asking; each poster finishes (acknowledges or abandons) the export in hand."""
        self.stop.set()
        for thread in self.threads:
            thread.join()


# ---------------------------------------------------------------------------
# The stack under test


def start_stack(data_dir: Path, port: int, lease: float, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("SEXTANT_DATABASE_URL", "SEXTANT_REDIS_URL")}
    env.update(SEXTANT_DATA_DIR=str(data_dir), SEXTANT_SECRET_KEY="chaos-bench-secret",
               SEXTANT_JOB_LEASE_SECONDS=str(lease))
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=log, stderr=log)
    wait_until_healthy(f"http://127.0.0.1:{port}", process, timeout=180)
    return process


def database_url(data_dir: Path) -> str:
    from app.core.embedded import EmbeddedPostgres

    return EmbeddedPostgres(data_dir).start()  # attaches to the running server


def seed(url: str) -> tuple[str, int]:
    """A project with an API key and an active rule evaluator; the key and the version id."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.accounts.models import Organization
    from app.accounts.service import create_api_key, create_project
    from app.evals.generation.spec import envelope
    from app.evals.models import Evaluator, EvaluatorVersion
    from app.issues import service as issues

    engine = create_engine(url)
    with Session(engine) as session:
        organization = Organization(name="Chaos")
        session.add(organization)
        session.flush()
        project = create_project(session, organization_id=organization.id, name="Chaos", actor="bench")
        _, key = create_api_key(session, project, actor="bench")
        issue = issues.create_issue(session, project.id, "Invents a refund window", actor="bench")
        evaluator = Evaluator(project_id=project.id, issue_id=issue.id, name="Refund window", origin="manual")
        session.add(evaluator)
        session.flush()
        version = EvaluatorVersion(evaluator_id=evaluator.id, number=1, status="ready", family="rule",
                                   spec=envelope("rule", combine="any", clauses=RULE_CLAUSES))
        session.add(version)
        session.flush()
        evaluator.active, evaluator.active_version_id = True, version.id
        session.commit()
        version_id = version.id
    engine.dispose()
    return key, version_id


def children(stack: subprocess.Popen, data_dir: Path) -> list[psutil.Process]:
    tree = psutil.Process(stack.pid).children(recursive=True)
    pgdata = str((data_dir / "postgres").resolve())
    postmaster = [p for p in psutil.process_iter(["cmdline"]) if pgdata in " ".join(p.info["cmdline"] or [])]
    return tree + postmaster


def kill(stack: subprocess.Popen, data_dir: Path, fault: str) -> None:
    words = {"web": "uvicorn", "worker": "worker.celery_app worker", "redis": "redis-server",
             "postgres": str((data_dir / "postgres").resolve())}[fault]
    victims = [p for p in children(stack, data_dir) if words in " ".join(p.cmdline())]
    if fault == "worker":  # the worker's pool processes die with it, as in a crash of its machine
        victims += [c for v in victims for c in v.children(recursive=True)]
    for victim in victims:
        victim.send_signal(signal.SIGKILL)


# ---------------------------------------------------------------------------
# Counting


def stored_spans(url: str, span_ids: set[str]) -> tuple[int, int]:
    """How many of these spans are stored, and how many span rows repeat an id."""
    with psycopg.connect(conninfo(url)) as conn:
        rows = conn.execute("SELECT external_id, count(*) FROM span WHERE external_id = ANY(%s) GROUP BY 1",
                            (list(span_ids),)).fetchall()
    return len(rows), sum(count - 1 for _, count in rows)


def evaluated(url: str, version_id: int, trace_ids: set[str]) -> tuple[int, int]:
    """How many of these traces have the evaluator's verdict, and how many verdicts repeat."""
    with psycopg.connect(conninfo(url)) as conn:
        rows = conn.execute("""SELECT t.external_id, count(r.id) FROM trace t
                               JOIN eval_result r ON r.trace_id = t.id AND r.evaluator_version_id = %s
                               WHERE t.external_id = ANY(%s) GROUP BY 1""",
                            (version_id, list(trace_ids))).fetchall()
    return len(rows), sum(count - 1 for _, count in rows)


def outbox_not_done(url: str) -> int:
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute("SELECT count(*) FROM job WHERE done_at IS NULL OR error IS NOT NULL").fetchone()[0]


def outbox_rows_left(url: str) -> list[tuple]:
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute("""SELECT name, args::text, attempts, sent_at IS NOT NULL, started_at IS NOT NULL,
                                      lease_until - now(), run_after - now(), error
                               FROM job WHERE done_at IS NULL OR error IS NOT NULL ORDER BY id LIMIT 5""").fetchall()


def settle(url: str, version_id: int, tally: Tally, timeout: float) -> float | None:
    """Seconds until every acknowledged trace is evaluated and the outbox is empty; None past `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if evaluated(url, version_id, tally.acked_traces)[0] == len(tally.acked_traces) \
                    and outbox_not_done(url) == 0:
                return time.monotonic() - started
        except psycopg.Error:
            pass  # the database may still be coming back
        time.sleep(0.5)
    return None


@dataclass
class Row:
    fault: str
    acked: int
    stored: int
    lost: int
    traces: int
    jobs_lost: int
    outbox_left: int
    duplicates: int
    ingest_back_s: float
    drained_s: float | None
    refusals: dict[str, int]
    abandoned: int


def run_fault(fault: str, stack, data_dir: Path, url: str, key: str, version_id: int, args) -> Row:
    tally = Tally()
    base = f"http://127.0.0.1:{args.port}"
    load = Load(base, key, args.posters, tally)
    time.sleep(3)  # steady state first
    faulted_at = time.monotonic()
    extra = None
    if fault == "overload":
        extra = Load(base, key, IN_FLIGHT_LIMIT * 20, tally)
    else:
        kill(stack, data_dir, fault)
    time.sleep(args.phase_seconds)
    if extra:
        extra.finish()
    load.finish()
    drained = settle(url, version_id, tally, args.settle_timeout)
    if drained is None:
        print(f"  {fault}: not drained; outbox rows left: {outbox_rows_left(url)}", flush=True)
    stored, span_dupes = stored_spans(url, tally.acked_spans)
    with_verdict, verdict_dupes = evaluated(url, version_id, tally.acked_traces)
    failures_after = [t for t in tally.failure_times if t >= faulted_at]
    back_at = min((t for t in tally.ack_times if t > max(failures_after)), default=None) if failures_after else None
    return Row(fault, len(tally.acked_spans), stored, len(tally.acked_spans) - stored, len(tally.acked_traces),
               len(tally.acked_traces) - with_verdict, outbox_not_done(url), span_dupes + verdict_dupes,
               (back_at - faulted_at) if back_at else 0.0, drained, dict(tally.refusals), tally.abandoned)


def print_table(rows: list[Row]) -> None:
    print(f"{'fault':<9} {'acked':>7} {'stored':>7} {'lost':>5} {'traces':>7} {'jobs lost':>9} "
          f"{'outbox left':>11} {'dupes':>6} {'ingest back':>11} {'drained':>8}  refused (retried) / abandoned")
    for r in rows:
        drained = f"{r.drained_s:.1f} s" if r.drained_s is not None else "timeout"
        refused = ", ".join(f"{k}: {v}" for k, v in sorted(r.refusals.items())) or "-"
        print(f"{r.fault:<9} {r.acked:>7} {r.stored:>7} {r.lost:>5} {r.traces:>7} {r.jobs_lost:>9} "
              f"{r.outbox_left:>11} {r.duplicates:>6} {r.ingest_back_s:>9.1f} s {drained:>8}  {refused} / {r.abandoned}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase-seconds", type=float, default=15.0)
    parser.add_argument("--posters", type=int, default=4)
    parser.add_argument("--lease", type=float, default=15.0, help="SEXTANT_JOB_LEASE_SECONDS of the stack")
    parser.add_argument("--settle-timeout", type=float, default=180.0)
    parser.add_argument("--faults", default="web,worker,redis,postgres,overload")
    args = parser.parse_args()
    args.port = free_port()
    with tempfile.TemporaryDirectory(prefix="sextant-chaos-") as scratch:
        data_dir = Path(scratch) / "data"
        log_path = Path(scratch) / "serve.log"
        with open(log_path, "wb") as log:
            stack = start_stack(data_dir, args.port, args.lease, log)
            try:
                url = database_url(data_dir)
                key, version_id = seed(url)
                print(f"embedded stack up; {args.posters} posters x {TRACES_PER_EXPORT} traces of 2 spans per export, "
                      f"{args.phase_seconds:.0f} s per fault, job lease {args.lease:.0f} s", flush=True)
                rows = []
                for fault in args.faults.split(","):
                    rows.append(run_fault(fault, stack, data_dir, url, key, version_id, args))
                    print(f"  {fault}: done", flush=True)
                print()
                print_table(rows)
                restarts = [line for line in log_path.read_text(errors="replace").splitlines()
                            if "restarting it in" in line]
                print(f"\nsupervisor: {len(restarts)} restarts logged")
            finally:
                stack.send_signal(signal.SIGINT)
                try:
                    stack.wait(60)
                except subprocess.TimeoutExpired:
                    stack.kill()


if __name__ == "__main__":
    main()
