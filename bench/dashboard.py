"""The dashboard on a project of a million spans over 90 days: page latency from the roll-ups.

    .venv/bin/python bench/dashboard.py [--spans 1000000] [--runs 30] [--keep] [--reuse]

Seeds a scratch database like bench/explorer.py (same traces and spans, stretched from 30
to 90 days; 2% annotated), then adds what the dashboard reads besides traffic: three issues
with an active evaluator each and a verdict of each on every trace (~240k results), issue
events, a queue of 2,000 items, and 60 gate runs. The worker's roll-up job
(`dashboard.refresh`) runs once over everything (timed: the first build), then again with
nothing new (timed: what the worker pays each minute).

Each case is the whole HTML page through the app in-process (signed in, real middleware
and templates), measured `--runs` times after warm-up. Same-run references: the bare
explorer query (`SELECT * FROM trace … ORDER BY start_time DESC LIMIT 50`), and what a
dashboard without roll-ups would run for one of its charts (traces, errors and latency
percentiles per day over 30 days, straight from `trace`). Target: page p95 < 300 ms.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.explorer import analyze, seed_project, seed_spans, signed_in_client, timed  # noqa: E402
from bench.scratch import (  # noqa: E402
    conninfo, drop_database, first_project_id, recreate_database, scratch_arguments, use_database)

TARGET_P95_MS = 300.0

STRETCH_TO_90_DAYS = """
UPDATE trace SET start_time = now() - (now() - start_time) * 3, end_time = now() - (now() - start_time) * 3
                 + (end_time - start_time)
"""

ISSUES = [("Invents a refund policy", r"refund", 0.82, (0.7, 0.9), 0.9, 0.93),
          ("Wrong flight details", r"flight", 0.6, (0.45, 0.72), 0.8, 0.85),
          ("Rude tone", r"rude", 0.3, (0.1, 0.5), 0.7, 0.6)]

# Each evaluator judges every trace; about 7%, 4% and 2% fail, more in recent weeks.
INSERT_RESULTS = """
INSERT INTO eval_result (evaluator_version_id, trace_id, trace_start, verdict, score, explanation)
SELECT %(version)s, t.id, t.start_time,
       CASE WHEN (t.id * 2654435761 + %(version)s * 40503) %% 1000
                 < %(permille)s * (1 + 0.5 * (t.start_time > now() - interval '20 days')::int)
            THEN 'fail' ELSE 'pass' END, NULL, ''
FROM trace t WHERE t.project_id = %(project)s
"""


def seed_quality(url: str, project_id: int) -> None:
    """Issues, evaluators with versions and verdicts, issue events, a queue, gate runs."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for k, (title, pattern, mcc, ci, tpr, tnr) in enumerate(ISSUES):
            issue = conn.execute(
                "INSERT INTO issue (project_id, title, state, first_seen, created_at) VALUES "
                "(%s, %s, 'ongoing', now() - interval '80 days', now() - interval '79 days') RETURNING id",
                (project_id, title)).fetchone()[0]
            conn.execute("INSERT INTO issue_event (issue_id, actor, from_state, to_state, at) VALUES "
                         "(%s, 'system', 'new', 'ongoing', now() - interval '72 days')", (issue,))
            evaluator = conn.execute(
                "INSERT INTO evaluator (project_id, issue_id, name, origin, active) VALUES "
                "(%s, %s, %s, 'generated', true) RETURNING id", (project_id, issue, f"Detects: {title}")).fetchone()[0]
            spec = ('{"format": "sextant.evaluator", "version": 1, "family": "rule", "combine": "any", '
                    '"clauses": [{"field": "output", "kind": "regex", "pattern": "%s"}]}' % pattern)
            confusion = '{"confusion": {"tp": 45, "fn": 5, "tn": 93, "fp": 7}, "n": 150}'
            version = conn.execute(
                "INSERT INTO evaluator_version (evaluator_id, number, status, family, spec, mcc, mcc_ci_low, "
                "mcc_ci_high, tpr, tnr, metrics, holdout_size) VALUES (%s, 1, 'ready', 'rule', %s, %s, %s, %s, "
                "%s, %s, %s, 150) RETURNING id",
                (evaluator, spec, mcc, ci[0], ci[1], tpr, tnr, confusion)).fetchone()[0]
            conn.execute("UPDATE evaluator SET active_version_id = %s WHERE id = %s", (version, evaluator))
            conn.execute(INSERT_RESULTS, {"version": version, "permille": 70 // (k + 1), "project": project_id})
        queue = conn.execute("INSERT INTO annotation_queue (project_id, name) VALUES (%s, 'Weekly sample') "
                             "RETURNING id", (project_id,)).fetchone()[0]
        conn.execute("INSERT INTO queue_item (queue_id, trace_id, done) SELECT %s, id, id %% 3 = 0 FROM trace "
                     "WHERE project_id = %s ORDER BY id DESC LIMIT 2000", (queue, project_id))
        conn.execute("INSERT INTO gate_run (project_id, release, source, baseline, status, verdict, created_at) "
                     "SELECT %s, 'v1.' || (g %% 10), 'file', '{\"kind\": \"production\", \"days\": 7}', 'done', "
                     "CASE WHEN g %% 7 = 0 THEN 'fail' ELSE 'pass' END, now() - make_interval(days => g) "
                     "FROM generate_series(1, 60) g", (project_id,))
        conn.execute("VACUUM ANALYZE eval_result")


def refresh(project_id: int) -> float:
    from app.dashboard import tasks

    started = time.perf_counter()
    tasks.refresh.run(project_id)
    return time.perf_counter() - started


CASES = [("30 days (default)", ""), ("7 days", "range=7"), ("90 days", "range=90"),
         ("90 days, one release", "range=90&release=v1.3"), ("30 days, staging", "range=30&environment=staging"),
         ("custom 60 days, production", "range=custom&from={from60}&to={today}&environment=production")]

NAIVE_CHART = """
SELECT (start_time AT TIME ZONE 'UTC')::date, count(*), count(*) FILTER (WHERE has_error),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
FROM trace WHERE project_id = :p AND start_time >= now() - interval '30 days' GROUP BY 1
"""


def measure(project_id: int, runs: int) -> list[tuple[str, float, float]]:
    from datetime import date, timedelta

    from sqlalchemy import text

    from app.core.db import session_factory
    from app.main import create_app

    app = create_app()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = signed_in_client(app)
    session = session_factory()()
    rows = [("reference: explorer's bare SELECT … LIMIT 50",
             *timed(lambda: session.execute(text("SELECT * FROM trace WHERE project_id = :p ORDER BY start_time "
                                                 "DESC LIMIT 50"), {"p": project_id}).all(), runs)),
            ("reference: one chart without roll-ups (30 days of trace)",
             *timed(lambda: session.execute(text(NAIVE_CHART), {"p": project_id}).all(), max(5, runs // 4), 1))]
    today = date.today()
    for name, query in CASES:
        url = f"/projects/{project_id}/dashboard?" + query.format(from60=today - timedelta(days=59), today=today)

        def get():
            response = client.get(url)
            assert response.status_code == 200, response.text[:300]

        rows.append((f"page: {name}", *timed(get, runs)))
    rows.append(("page: organisation overview (90 days)", *timed(lambda: client.get("/dashboard?range=90"), runs)))
    session.close()
    return rows


def main() -> None:
    args = scratch_arguments(__doc__, "sextant_bench_dashboard", runs=30).parse_args()

    url = use_database(args.database)
    try:
        if args.reuse:
            project_id = first_project_id(url)
        else:
            project_id = seed(url, args.spans)
            print(f"  roll-ups, first build: {refresh(project_id):.1f} s", flush=True)
        print(f"  roll-ups, nothing new (each minute): {refresh(project_id) * 1000:.0f} ms", flush=True)
        print(f"\n{'case':<60} {'median':>8} {'p95':>8}   (ms)")
        rows = measure(project_id, args.runs)
        reference = rows[0][2]
        for name, median, p95 in rows:
            flag = "  MISS" if name.startswith("page") and p95 >= TARGET_P95_MS else ""
            print(f"{name:<60} {median:>8.1f} {p95:>8.1f}   x{p95 / reference:.0f} reference{flag}", flush=True)
        misses = [r for r in rows if r[0].startswith("page") and r[2] >= TARGET_P95_MS]
        print(f"\n{len(misses)} page cases miss p95 < {TARGET_P95_MS:.0f} ms")
    finally:
        if not args.keep:
            from app.core.db import reset_engine

            reset_engine()
            drop_database(args.database)


def seed(url: str, spans: int) -> int:
    from app.core import migrate

    print(f"seeding {spans:,} spans into {make_url(url).database}", flush=True)
    recreate_database(make_url(url).database)
    migrate.upgrade(url)
    project_id = seed_project(url)
    traces, stored = seed_spans(url, project_id, spans)
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute(STRETCH_TO_90_DAYS)
    seed_quality(url, project_id)
    analyze(url)
    print(f"  {traces:,} traces, {stored:,} spans over 90 days", flush=True)
    return project_id


if __name__ == "__main__":
    main()
