"""The explorer's failed/passed filter before and after the one human label, interleaved in one run.

    .venv/bin/python bench/label_filter.py [--database sextant_bench_explorer] [--runs 200]

Needs a database kept by `bench/explorer.py --keep` (1M spans, 2% annotated, disputes,
adjudications, an evaluator). For each case it times, round-robin so that machine noise falls
on all alike: the reference (a bare first page), the old condition ("has an annotation with
that verdict", EXISTS on `annotation`) and the new one (the trace's label from the
`trace_label` view), both as Postgres would join it and as the explorer runs it (a hashed
filter on the page's index scan, see `traces.repository._among`). Prints median and p95 in ms and each
median over the reference's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.explorer import percentile  # noqa: E402
from bench.scratch import conninfo, database_url  # noqa: E402

PAGE = "SELECT id FROM trace WHERE project_id = %(p)s {where} ORDER BY {order} LIMIT 51"
OLD = "AND EXISTS (SELECT 1 FROM annotation a WHERE a.trace_id = trace.id AND a.verdict = %(v)s)"
LABELLED = "trace.id IN (SELECT trace_id FROM trace_label WHERE project_id = %(p)s AND verdict = %(v)s)"
ORDERS = {"newest first": "start_time DESC, id DESC", "slowest first": "duration_ms DESC, id DESC"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="sextant_bench_explorer")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with psycopg.connect(conninfo(database_url(args.database)), prepare_threshold=None) as conn:
        project = conn.execute("SELECT min(id) FROM project").fetchone()[0]
        print(f"{'case':<34} {'median':>8} {'p95':>8} {'÷ ref':>7}   (ms)")
        for verdict in ("fail", "pass"):
            for order_name, order in ORDERS.items():
                variants = {"reference": PAGE.format(where="", order=order),
                            "old: any annotation says it": PAGE.format(where=OLD, order=order),
                            "label, as a join": PAGE.format(where=f"AND {LABELLED}", order=order),
                            "label, hashed (what runs)": PAGE.format(where=f"AND ({LABELLED}) IS TRUE",
                                                                     order=order)}
                samples: dict[str, list[float]] = {name: [] for name in variants}
                params = {"p": project, "v": verdict}
                for run in range(args.runs + 5):
                    for name, sql in variants.items():
                        started = time.perf_counter()
                        conn.execute(sql, params).fetchall()
                        if run >= 5:  # warm-up
                            samples[name].append((time.perf_counter() - started) * 1000)
                reference = statistics.median(samples["reference"])
                print(f"\n{verdict}, {order_name}")
                for name, values in samples.items():
                    median = statistics.median(values)
                    print(f"  {name:<32} {median:>8.2f} {percentile(values, 0.95):>8.2f} {median / reference:>7.1f}")


if __name__ == "__main__":
    main()
