"""Next-item latency of the annotation workbench with 1M traces and a queue of 100k items.

    .venv/bin/python bench/annotate.py [--traces 1000000] [--items 100000] [--claims 200] [--page-runs 10]
                                       [--keep] [--reuse]

Creates a scratch database (`--database`, dropped at the end unless `--keep`;
`--reuse` measures a kept one again), migrates it, and seeds in SQL
(INSERT … SELECT over generate_series):
- one project of `--traces` traces; every tenth trace is in the queue and has two
  spans (an agent root and an LLM call with messages), so the workbench renders a
  real conversation;
- two queues over the same `--items` traces: one with 2 annotators per item, one
  with 1 (annotations belong to traces, so both see the same judgements);
- "me" (the annotator measured) and four others, laid out along the queue so that
  every claim has to pass over work that is not mine to do:
      0–20%   annotated by me and other 1      (done with 2 per item)
      20–40%  annotated by me only             (open with 2 per item: not mine)
      40–60%  annotated by others 1 and 2      (done)
      60–61%  skipped by me
      61–62%  annotated by other 1 and held (locked) by other 3  (full with 2 per item)
      62–80%  annotated by other 1             (open: mine to do with 2 per item)
      80–100% untouched
Then it ANALYZEs and measures, for each queue, `--claims` claims in a row:
- `service.next_item` inside a transaction (the held-item check, then the claim);
- the HTTP route as the workbench calls it (`GET …/annotate` with HX-Request, the
  whole fragment rendered) through the app in-process, signed in;
- `POST …/items/{id}` (record the judgement, then claim and render the next item);
- `GET …/progress`, the header's counts, which the workbench loads after the item.
Between two claims the claimed item is annotated outside the measurement (SQL,
as `service.annotate` leaves it), so every claim is a fresh one. The reference is
a bare `SELECT id FROM queue_item WHERE queue_id = … ORDER BY id LIMIT 1`.
For scale, the queue list and each queue page are timed too (`--page-runs`, no target).
HTTP figures are server time: the app's work, timed around the ASGI app (the in-process
test client's own thread hand-offs left out). Prints median and p95 in ms and the
load average (the machine may be shared); the target is p95 < 50 ms for next item.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.scratch import conninfo, database_url, drop_database, recreate_database  # noqa: E402

TARGET_P95_MS = 50.0
PASSWORD = "bench password"
ME, OTHERS = "me@example.com", [f"other{i}@example.com" for i in range(1, 5)]


# ---------------------------------------------------------------------------
# Seeding




def seed_accounts() -> dict:
    """An organisation, its people, a project and the two queues, made by the services."""
    from app.accounts import service as accounts
    from app.accounts.models import Organization, Role
    from app.annotations import service
    from app.core.db import unit_of_work

    with unit_of_work() as session:
        organization = Organization(name="Bench")
        session.add(organization)
        session.flush()
        admin = accounts.create_user(session, email="admin@example.com", password=PASSWORD, role=Role.admin,
                                     organization=organization)
        people = {email: accounts.create_user(session, email=email, password=PASSWORD, role=Role.annotator,
                                              organization=organization).id for email in [ME, *OTHERS]}
        project = accounts.create_project(session, organization_id=organization.id, name="Annotation bench",
                                          actor="bench")
        queues = {per_item: service.create_queue(session, project, service.QueueSpec(
            name=f"{per_item} per item", instructions="Judge the **last answer**.", annotators_per_item=per_item),
            actor=admin).id for per_item in (2, 1)}
        return {"project": project.id, "people": people, "queues": queues}


INSERT_TRACES = """
INSERT INTO trace (project_id, external_id, name, session_id, user_id, environment, input, output,
                   start_time, end_time, root_seen, search_pending, span_count)
SELECT %(project)s, 'bench-' || g, 'support_agent', 'session-' || (g / 4), 'user-' || (g %% 5000), 'production',
       'Hi, my order ' || g || ' is late. Can you help me with that? I would like a refund please.',
       'I have looked into order ' || g || ' and it shipped yesterday; it arrives on Friday.',
       now() - interval '30 days' * (1 - g::float8 / %(traces)s),
       now() - interval '30 days' * (1 - g::float8 / %(traces)s) + interval '2 seconds',
       true, false, CASE WHEN g %% 10 = 0 THEN 2 ELSE 0 END
FROM generate_series(1, %(traces)s) AS g
"""

INSERT_SPANS = """
INSERT INTO span (trace_id, external_id, parent_external_id, name, kind, status, model, input, output,
                  input_messages, output_messages, start_time, end_time)
SELECT t.id, s.k, CASE WHEN s.k = 'llm' THEN 'root' END, s.k, CASE WHEN s.k = 'llm' THEN 'llm' ELSE 'agent' END,
       'ok', CASE WHEN s.k = 'llm' THEN 'gpt-4o' END, t.input, t.output,
       CASE WHEN s.k = 'llm' THEN jsonb_build_array(
           jsonb_build_object('role', 'system', 'content', 'You are a helpful support agent.'),
           jsonb_build_object('role', 'user', 'content', t.input)) END,
       CASE WHEN s.k = 'llm' THEN jsonb_build_array(jsonb_build_object('role', 'assistant', 'content', t.output)) END,
       t.start_time, t.end_time
FROM trace t, (VALUES ('root'), ('llm')) AS s(k)
WHERE t.project_id = %(project)s AND t.span_count = 2
"""

INSERT_ITEMS = """
INSERT INTO queue_item (queue_id, trace_id)
SELECT %(queue)s, id FROM trace WHERE project_id = %(project)s AND span_count = 2 ORDER BY id LIMIT %(items)s
"""

# Annotations of the queue's n-th items (n counted along the queue, 0-based) in [lo, hi), made one
# second apart in queue order, as an annotator working through the queue makes them.
INSERT_ANNOTATIONS = """
INSERT INTO annotation (project_id, trace_id, annotator, author_id, queue_id, verdict, feedback, created_at,
                        updated_at)
SELECT %(project)s, qi.trace_id, 'user:' || %(user)s, %(user)s, qi.queue_id,
       CASE WHEN qi.id %% 7 = 0 THEN 'fail' ELSE 'pass' END,
       CASE WHEN qi.id %% 7 = 0 THEN 'Promises a refund the policy does not allow.' ELSE '' END,
       now() - make_interval(secs => %(hi)s - qi.n), now() - make_interval(secs => %(hi)s - qi.n)
FROM (SELECT id, queue_id, trace_id, row_number() OVER (ORDER BY id) - 1 AS n FROM queue_item
      WHERE queue_id = %(queue)s) qi
WHERE qi.n >= %(lo)s AND qi.n < %(hi)s
"""

ROWS_IN_RANGE = """
SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM queue_item WHERE queue_id = %(queue)s) qi
WHERE n >= %(lo)s AND n < %(hi)s
"""

# What `repository.refresh_item_counts` does per trace, for every item at once.
REFRESH_COUNTS = """
UPDATE queue_item qi SET annotation_count = c.n, done = c.n >= q.annotators_per_item
FROM annotation_queue q,
     (SELECT trace_id, count(*) AS n FROM annotation WHERE author_id IS NOT NULL GROUP BY trace_id) c
WHERE q.id = qi.queue_id AND c.trace_id = qi.trace_id
"""


def seed(url: str, traces: int, items: int) -> dict:
    from app.core import migrate

    print(f"seeding {traces:,} traces and two queues of {items:,} items into {make_url(url).database}", flush=True)
    recreate_database(make_url(url).database)
    migrate.upgrade(url)
    ids = seed_accounts()
    people, project, per2 = ids["people"], ids["project"], ids["queues"][2]
    share = lambda fraction: int(items * fraction)  # noqa: E731
    annotated = [(ME, 0, 0.40), (OTHERS[0], 0, 0.20), (OTHERS[0], 0.40, 0.80), (OTHERS[1], 0.40, 0.60)]
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        step(conn, "traces", INSERT_TRACES, project=project, traces=traces)
        step(conn, "spans", INSERT_SPANS, project=project)
        for queue in ids["queues"].values():
            step(conn, f"queue {queue} items", INSERT_ITEMS, queue=queue, project=project, items=items)
        for email, lo, hi in annotated:
            step(conn, f"annotations by {email} ({lo:.0%}–{hi:.0%})", INSERT_ANNOTATIONS, project=project,
                 queue=per2, user=people[email], lo=share(lo), hi=share(hi))
        step(conn, "item counts", REFRESH_COUNTS)
        for queue in ids["queues"].values():
            skip_and_hold(conn, queue, people, share)
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        print(f"  vacuum analyze: {time.perf_counter() - started:.1f} s", flush=True)
    return ids


def skip_and_hold(conn, queue: int, people: dict, share: Callable[[float], int]) -> None:
    """Me: 1% of the queue skipped; other 3: 1% held with a live lock."""
    skipped = [r[0] for r in conn.execute(ROWS_IN_RANGE, {"queue": queue, "lo": share(0.60), "hi": share(0.61)})]
    held = [r[0] for r in conn.execute(ROWS_IN_RANGE, {"queue": queue, "lo": share(0.61), "hi": share(0.62)})]
    conn.execute("INSERT INTO queue_skip (item_id, user_id) SELECT unnest(%s::bigint[]), %s", (skipped, people[ME]))
    conn.execute("INSERT INTO queue_lock (item_id, user_id, locked_until) "
                 "SELECT unnest(%s::bigint[]), %s, now() + interval '1 day'", (held, people[OTHERS[2]]))


def step(conn, label: str, statement: str, **params) -> None:
    started = time.perf_counter()
    rows = conn.execute(statement, params).rowcount
    print(f"  {label}: {rows:,} rows, {time.perf_counter() - started:.1f} s", flush=True)


# ---------------------------------------------------------------------------
# Measuring


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summary(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), percentile(samples, 0.95)


# As `service.annotate` leaves an item: my annotation stored, the counts refreshed, my lock released.
FINISH_ITEM = """
WITH a AS (
    INSERT INTO annotation (project_id, trace_id, annotator, author_id, queue_id, verdict, feedback)
    SELECT %(project)s, trace_id, 'user:' || %(user)s, %(user)s, queue_id, 'pass', '' FROM queue_item
    WHERE id = %(item)s RETURNING trace_id)
SELECT trace_id FROM a
"""


def finish_item(conn, project: int, user: int, item_id: int) -> None:
    trace_id = conn.execute(FINISH_ITEM, {"project": project, "user": user, "item": item_id}).fetchone()[0]
    conn.execute("""
        UPDATE queue_item qi SET annotation_count = qi.annotation_count + 1,
               done = qi.annotation_count + 1 >= q.annotators_per_item
        FROM annotation_queue q WHERE qi.trace_id = %s AND q.id = qi.queue_id""", (trace_id,))
    conn.execute("DELETE FROM queue_lock WHERE item_id = %s AND user_id = %s", (item_id, user))


def measure_service(ids: dict, queue_id: int, claims: int, url: str) -> list[float]:
    """`service.next_item` in its own transaction, claim after claim."""
    from app.accounts.models import User
    from app.annotations import service
    from app.core.db import session_factory

    samples = []
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for _ in range(claims):
            with session_factory()() as session:
                queue = service.get_queue(session, ids["project"], queue_id)
                me = session.get(User, ids["people"][ME])
                started = time.perf_counter()
                item = service.next_item(session, queue, me)
                samples.append((time.perf_counter() - started) * 1000)
                session.commit()
            finish_item(conn, ids["project"], ids["people"][ME], item.id)
    return samples


class ServerTimer:
    """ASGI wrapper that records each request's server time (the app's work, not the test client's)."""

    def __init__(self, app):
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope, receive, send):
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.last_ms = (time.perf_counter() - started) * 1000


def signed_in_client(app, email: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about its httpx-based client
        from fastapi.testclient import TestClient

    from app.core.security import CSRF_COOKIE, CSRF_HEADER

    client = TestClient(app, base_url="http://bench")
    client.get("/healthz")
    response = client.post("/login", data={"email": email, "password": PASSWORD},
                           headers={CSRF_HEADER: client.cookies[CSRF_COOKIE], "HX-Request": "true"})
    assert response.status_code == 204, response.text
    return client


def item_of(response) -> int:
    import re

    assert response.status_code == 200, (response.status_code, response.text[:300])
    return int(re.search(r'data-item-id="(\d+)"', response.text).group(1))


def measure_http(client, timer: ServerTimer, ids: dict, queue_id: int, claims: int, url: str) -> list[float]:
    """GET …/annotate as the workbench asks for the next item (HTMX fragment)."""
    path = f"/projects/{ids['project']}/queues/{queue_id}/annotate"
    samples = []
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for _ in range(claims):
            item_id = item_of(client.get(path, headers={"HX-Request": "true"}))
            samples.append(timer.last_ms)
            finish_item(conn, ids["project"], ids["people"][ME], item_id)
    return samples


def measure_submit(client, timer: ServerTimer, ids: dict, queue_id: int, claims: int) -> list[float]:
    """POST …/items/{id}: store my judgement, then claim and render the next item."""
    from app.core.security import CSRF_COOKIE, CSRF_HEADER

    base = f"/projects/{ids['project']}/queues/{queue_id}"
    headers = {"HX-Request": "true", CSRF_HEADER: client.cookies[CSRF_COOKIE]}
    item_id = item_of(client.get(f"{base}/annotate", headers={"HX-Request": "true"}))
    samples = []
    for n in range(claims):
        verdict = {"verdict": "fail", "feedback": "Wrong date."} if n % 5 == 0 else {"verdict": "pass"}
        item_id = item_of(client.post(f"{base}/items/{item_id}", data=verdict, headers=headers))
        samples.append(timer.last_ms)
    return samples


def measure_progress(client, timer: ServerTimer, ids: dict, queue_id: int, runs: int) -> list[float]:
    """GET …/progress: the workbench header's counts, asked for once the item is on screen."""
    path = f"/projects/{ids['project']}/queues/{queue_id}/progress"
    samples = []
    for _ in range(runs):
        response = client.get(path, headers={"HX-Request": "true"})
        assert response.status_code == 200, response.text[:300]
        samples.append(timer.last_ms)
    return samples


def measure_page(client, timer: ServerTimer, path: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        response = client.get(path)
        assert response.status_code == 200, response.text[:300]
        samples.append(timer.last_ms)
    return samples


def measure_reference(queue_id: int, runs: int, url: str) -> list[float]:
    samples = []
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for _ in range(runs):
            started = time.perf_counter()
            conn.execute("SELECT id FROM queue_item WHERE queue_id = %s ORDER BY id LIMIT 1", (queue_id,)).fetchone()
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def print_row(name: str, samples: list[float], target: bool = True) -> bool:
    median, p95 = summary(samples)
    missed = target and p95 >= TARGET_P95_MS
    flag = "  MISS" if missed else ""
    print(f"{name:<64} {median:>8.1f} {p95:>8.1f} {len(samples):>6}{flag}", flush=True)
    return missed


def measure(ids: dict, claims: int, page_runs: int, url: str) -> int:
    from app.main import create_app

    timer = ServerTimer(create_app())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    client = signed_in_client(timer, ME)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; HTTP rows are server time")
    print(f"{'case':<64} {'median':>8} {'p95':>8} {'n':>6}   (ms)")
    misses = 0
    for per_item, queue_id in sorted(ids["queues"].items(), reverse=True):
        label = f"[{per_item} per item]"
        print_row(f"{label} reference: SELECT id … ORDER BY id LIMIT 1", measure_reference(queue_id, claims, url),
                  target=False)
        misses += print_row(f"{label} service.next_item (claim)", measure_service(ids, queue_id, claims, url))
        misses += print_row(f"{label} GET …/annotate (HTMX, next item rendered)",
                            measure_http(client, timer, ids, queue_id, claims, url))
        print_row(f"{label} POST …/items/{{id}} (judgement + next item)",
                  measure_submit(client, timer, ids, queue_id, claims), target=False)
        print_row(f"{label} GET …/progress (header counts, after the item)",
                  measure_progress(client, timer, ids, queue_id, claims), target=False)
    project = f"/projects/{ids['project']}/queues"
    print_row("queue list (both queues: progress, annotators, who is active)",
              measure_page(client, timer, project, page_runs), target=False)
    for per_item, queue_id in sorted(ids["queues"].items(), reverse=True):
        print_row(f"[{per_item} per item] queue page (progress, agreement, disagreements)",
                  measure_page(client, timer, f"{project}/{queue_id}", page_runs), target=False)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return misses


# ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--page-runs", type=int, default=10, help="runs of the queue list and queue pages")
    parser.add_argument("--database", default="sextant_bench_annotate")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database without seeding")
    args = parser.parse_args()
    if args.items * 10 > args.traces:
        parser.error("--items must be at most a tenth of --traces (every tenth trace is queued)")

    url = database_url(args.database)
    os.environ["SEXTANT_DATABASE_URL"] = url
    os.environ.setdefault("SEXTANT_REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ.setdefault("SEXTANT_SECRET_KEY", "bench-secret-key-not-for-production")
    try:
        ids = existing(url) if args.reuse else seed(url, args.traces, args.items)
        misses = measure(ids, args.claims, args.page_runs, url)
        verdict = f"{misses} case(s) miss" if misses else "every case meets"
        print(f"\nnext item: {verdict} p95 < {TARGET_P95_MS:.0f} ms")
    finally:
        if not args.keep:
            from app.core.db import reset_engine

            reset_engine()
            drop_database(args.database)


def existing(url: str) -> dict:
    """The ids a kept database was seeded with."""
    with psycopg.connect(conninfo(url)) as conn:
        project = conn.execute("SELECT id FROM project ORDER BY id LIMIT 1").fetchone()[0]
        people = dict(conn.execute('SELECT email, id FROM "user"').fetchall())
        queues = dict(conn.execute("SELECT annotators_per_item, id FROM annotation_queue").fetchall())
    return {"project": project, "people": people, "queues": queues}


if __name__ == "__main__":
    main()
