"""Streamed export of a million spans: rows/s and the server's memory while it streams.

    .venv/bin/python bench/export.py [--spans 1000000] [--keep] [--reuse]

Seeds a scratch database as bench/explorer.py does (one project, traces of 5–20 spans
with messages), starts a real server (uvicorn, one process), and downloads
`GET /api/v1/exports/spans?format=jsonl` and `…format=csv` with an API key, counting
rows. The server's resident memory is sampled every 50 ms from /proc while it streams;
printed: its RSS before, its peak during, rows/s. Same-run reference: psycopg's
`COPY (SELECT the same span columns of the project) TO STDOUT`, the fastest way
Postgres hands out those rows, read to the end in this process.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.explorer import seed  # noqa: E402
from bench.scratch import (  # noqa: E402
    conninfo, drop_database, first_project_id, scratch_arguments, use_database)

COPY_SPANS = """COPY (SELECT s.id, t.external_id, s.external_id, s.parent_external_id, s.name, s.kind, s.status,
  s.error, s.model, s.provider, s.operation, s.tool_name, s.input, s.output, s.input_messages, s.output_messages,
  s.system, s.tokens_in, s.tokens_out, s.tokens_cache_read, s.tokens_cache_write, s.tokens_reasoning, s.cost,
  s.start_time, s.end_time, s.duration_ms, s.attributes, s.metadata
  FROM span s JOIN trace t ON t.id = s.trace_id WHERE t.project_id = %s
  ORDER BY s.trace_id, s.start_time, s.id) TO STDOUT"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PeakRss(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)


def download(base: str, key: str, fmt: str, pid: int) -> tuple[int, float, int, int]:
    """(rows, seconds, RSS before in KiB, peak RSS during in KiB) of one streamed export."""
    before = rss_kib(pid)
    sampler = PeakRss(pid)
    sampler.start()
    started, rows = time.perf_counter(), 0
    with httpx.stream("GET", f"{base}/api/v1/exports/spans", params={"format": fmt},
                      headers={"Authorization": f"Bearer {key}"}, timeout=600) as response:
        response.raise_for_status()
        for _ in response.iter_lines():
            rows += 1
    elapsed = time.perf_counter() - started
    sampler.running = False
    sampler.join()
    return rows - (fmt == "csv"), elapsed, before, sampler.peak


def copy_reference(url: str, project_id: int) -> tuple[int, float]:
    started, rows = time.perf_counter(), 0
    with psycopg.connect(conninfo(url)) as conn, conn.cursor().copy(COPY_SPANS, (project_id,)) as copy:
        for _ in copy.rows():
            rows += 1
    return rows, time.perf_counter() - started


def api_key(project_id: int) -> str:
    from app.accounts import service
    from app.accounts.models import Project
    from app.core.db import unit_of_work

    with unit_of_work() as session:
        return service.create_api_key(session, session.get(Project, project_id), name="bench", actor="bench")[1]


def main() -> None:
    args = scratch_arguments(__doc__, "sextant_bench_export").parse_args()

    url = use_database(args.database)
    from tests.live import server_env, start_server, stop_process

    process = None
    try:
        if args.reuse:
            project_id = first_project_id(url)
        else:
            project_id = seed(url, args.spans)
        key = api_key(project_id)
        process, base = start_server(server_env(url, os.environ["SEXTANT_REDIS_URL"]))
        copied, copy_s = copy_reference(url, project_id)
        print(f"{'export':<22}{'rows':>10}{'seconds':>9}{'rows/s':>10}{'RSS before':>12}{'peak RSS':>10}")
        print(f"{'COPY TO (reference)':<22}{copied:>10,}{copy_s:>9.1f}{copied / copy_s:>10,.0f}")
        for fmt in ("jsonl", "csv"):
            rows, seconds, before, peak = download(base, key, fmt, process.pid)
            assert rows == copied, (fmt, rows, copied)
            print(f"{'spans ' + fmt:<22}{rows:>10,}{seconds:>9.1f}{rows / seconds:>10,.0f}"
                  f"{before / 1024:>10.0f} MB{peak / 1024:>7.0f} MB   {copy_s / seconds:.2f}x COPY's rate")
    finally:
        if process is not None:
            stop_process(process)
        if not args.keep:
            from app.core.db import reset_engine

            reset_engine()
            drop_database(args.database)


if __name__ == "__main__":
    main()
