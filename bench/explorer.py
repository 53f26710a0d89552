"""The trace explorer on a project of a million spans: list query and HTML page latency.

    .venv/bin/python bench/explorer.py [--spans 1000000] [--runs 40] [--keep] [--reuse]

Creates a scratch database (`--database`, dropped at the end unless `--keep`;
`--reuse` measures a kept one again without seeding), migrates it, and seeds one
project in SQL (INSERT … SELECT over generate_series, not through the API):
- traces of 5–20 spans (12.5 on average): an agent root, then LLM, tool and
  retriever spans in a tree three deep, with messages, tokens and cost;
- varied names, models, tags, sessions (~4 traces each), users, releases and
  environments, over the last 30 days; about 3% of traces hold a failed span;
- input and output texts of a few hundred characters, drawn from a pool of
  support-chat prose; a few contain a rare word, for selective searches;
- annotations on every 50th trace (a third of them fails), for the
  has-annotation filters; on every 250th a second annotator disagrees (a tie: no
  label) and every 500th is adjudicated a pass, so the label rule has work to do;
- one issue with an active evaluator that judged every 5th trace (every 35th
  fails), for the evaluator-verdict and issue filters.
Then it runs the real search indexing task until the backlog is empty, and
ANALYZEs. Each case is measured `--runs` times after warm-up, twice: the list
query as the explorer runs it (`views.trace_page`), and the whole HTML page
through the app in-process (signed in, real middleware and templates). Deep pages
start from a cursor 10,000 rows in. The reference is a bare
`SELECT * FROM trace WHERE project_id = … ORDER BY start_time DESC LIMIT 50`.
Prints median and p95 in ms per case; the target is p95 < 150 ms.
"""

from __future__ import annotations

import logging
import random
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

from bench.scratch import (  # noqa: E402
    conninfo, drop_database, first_project_id, recreate_database, scratch_arguments, use_database)

TARGET_P95_MS = 150.0
SPANS_PER_TRACE = 12.5  # 5..20, evenly
DEEP_ROWS = 10_000
PAGE_SIZE = 50
TEXT_POOL = 20_000
PASSWORD = "bench password"

NAMES = ["support_agent", "checkout", "search", "summarize_ticket", "classify_intent", "refund_flow",
         "booking_agent", "faq_answer", "escalation", "translate", "rag_query", "nightly_digest"]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b", "gemini-1.5-pro"]
TAGS = ["vip", "beta", "mobile", "web", "eu", "us", "experiment-a"]
TOOLS = ["lookup_order", "search_flights", "issue_refund", "get_user", "send_email", "calculate"]

SUBJECTS = ["my order", "the refund", "my flight", "the invoice", "my subscription", "the delivery",
            "my password", "the booking", "my baggage", "the upgrade", "the warranty claim", "my account"]
VERBS = ["is late", "was charged twice", "did not arrive", "needs to be cancelled", "shows the wrong date",
         "cannot be found", "was delayed", "should be changed", "is missing an item", "keeps failing"]
ASKS = ["Can you help me with that?", "What are my options?", "I would like a refund please.",
        "Please check the status.", "How long will it take?", "Is there a fee for this?"]
REPLIES = ["I have looked into {s} and it {v}.", "Thanks for waiting; {s} {v}, and I have fixed it.",
           "According to our policy, {s} can be changed within 24 hours.",
           "I issued a refund of ${n}.{c:02d} to your card; it takes five business days.",
           "Your reservation {code} is confirmed for flight HA{n} in economy.",
           "I could not find {s}; could you share the order number?"]
RARE_WORD, RARE_RATE = "chargeback", 0.003


# ---------------------------------------------------------------------------
# Seeding




def sentence(rng: random.Random, user: bool) -> str:
    if user:
        return f"Hi, {rng.choice(SUBJECTS)} {rng.choice(VERBS)}. {rng.choice(ASKS)}"
    return rng.choice(REPLIES).format(s=rng.choice(SUBJECTS), v=rng.choice(VERBS), n=rng.randint(10, 999),
                                      c=rng.randint(0, 99), code=f"{rng.randint(0, 36**6):06X}")


def text_pool(seed: int = 7) -> list[str]:
    """Support-chat prose, 200–500 characters each; a few carry a rare word."""
    rng = random.Random(seed)
    pool = []
    for i in range(TEXT_POOL):
        user = i % 2 == 0
        parts = [sentence(rng, user) for _ in range(rng.randint(3, 6))]
        if rng.random() < RARE_RATE:
            parts.insert(1, f"I will file a {RARE_WORD} with my bank.")
        pool.append(" ".join(parts))
    return pool


def seed_project(url: str) -> int:
    """An organisation, an admin and a project, made by the account services; the project id."""
    from app.accounts import service
    from app.accounts.models import Organization, Role
    from app.core.db import unit_of_work

    with unit_of_work() as session:
        organization = Organization(name="Bench")
        session.add(organization)
        session.flush()
        service.create_user(session, email="bench@example.com", password=PASSWORD, role=Role.admin,
                            organization=organization)
        return service.create_project(session, organization_id=organization.id, name="Explorer bench",
                                      actor="bench").id


INSERT_TRACES = """
INSERT INTO trace (project_id, external_id, name, session_id, user_id, release, environment, tags,
                   metadata, input, output, start_time, end_time, root_seen)
SELECT %(project)s, 'bench-' || g,
       (%(names)s::text[])[1 + floor(power(random(), 2) * 12)::int],
       'session-' || (g / 4), 'user-' || ((g * 7919) %% 5000),
       'v1.' || (g * 10 / (%(traces)s + 1)),
       CASE WHEN r.env < 0.80 THEN 'production' WHEN r.env < 0.95 THEN 'staging' ELSE 'development' END,
       ARRAY(SELECT tag FROM unnest(%(tags)s::text[]) AS tag WHERE random() < 0.12 AND g > 0),
       jsonb_build_object('tenant', 'tenant-' || g %% 50),
       (SELECT body FROM bench_text WHERE i = (g * 2) %% %(pool)s),
       (SELECT body FROM bench_text WHERE i = (g * 2 + 1) %% %(pool)s),
       r.start, r.start + make_interval(secs => (500 + exp(random() * 10.5)) / 1000), true
FROM generate_series(1, %(traces)s) AS g,
     LATERAL (SELECT random() AS env,
                     now() - interval '30 days' * (1 - g::float8 / %(traces)s)
                           + make_interval(secs => random() * 60) AS start) AS r
"""

# Spans of each trace: s0 the agent root, then a tree three deep (parent of sK is s((K-1)/3)),
# laid out in order over the trace's time. The last span of ~3% of traces fails.
INSERT_SPANS = """
INSERT INTO span (trace_id, external_id, parent_external_id, name, kind, status, error, model, provider,
                  tool_name, input, output, input_messages, output_messages, tokens_in, tokens_out, cost,
                  start_time, end_time, attributes, resource)
SELECT t.id, 's' || k, CASE WHEN k > 0 THEN 's' || ((k - 1) / 3) END,
       CASE x.kind WHEN 'agent' THEN t.name WHEN 'llm' THEN 'chat ' || x.model
                   WHEN 'tool' THEN 'execute_tool ' || x.tool ELSE 'retrieve' END,
       x.kind, CASE WHEN x.failed THEN 'error' ELSE 'ok' END,
       CASE WHEN x.failed THEN 'RateLimitError: too many requests, retry after 20s' END,
       CASE WHEN x.kind = 'llm' THEN x.model END, CASE WHEN x.kind = 'llm' THEN 'openai' END,
       CASE WHEN x.kind = 'tool' THEN x.tool END,
       CASE WHEN k = 0 THEN t.input WHEN x.kind = 'tool' THEN '{"order_id": "' || t.id || '"}' ELSE x.question END,
       CASE WHEN k = 0 THEN t.output WHEN x.kind = 'tool' THEN '{"status": "shipped", "items": 2}' ELSE x.answer END,
       CASE WHEN x.kind = 'llm' THEN jsonb_build_array(
           jsonb_build_object('role', 'system', 'content', 'You are a helpful support agent.'),
           jsonb_build_object('role', 'user', 'content', x.question)) END,
       CASE WHEN x.kind = 'llm' THEN
           jsonb_build_array(jsonb_build_object('role', 'assistant', 'content', x.answer)) END,
       CASE WHEN x.kind = 'llm' THEN x.tokens_in END, CASE WHEN x.kind = 'llm' THEN x.tokens_out END,
       CASE WHEN x.kind = 'llm' THEN x.tokens_in * 2.5e-6 + x.tokens_out * 1e-5 END,
       t.start_time + (t.end_time - t.start_time) * (k::float8 / n.spans),
       CASE WHEN k = 0 THEN t.end_time
            ELSE t.start_time + (t.end_time - t.start_time) * ((k + 0.8) / n.spans) END,
       jsonb_build_object('bench.k', k, 'gen_ai.operation.name', x.kind),
       '{"service.name": "bench-agent"}'::jsonb
FROM trace AS t,
     LATERAL (SELECT 5 + (t.id * 7919) %% 16 AS spans) AS n,
     LATERAL generate_series(0, n.spans - 1) AS k,
     LATERAL (SELECT CASE WHEN k = 0 THEN 'agent' WHEN k %% 3 = 1 THEN 'llm' WHEN k %% 3 = 2 THEN 'tool'
                          ELSE 'retriever' END AS kind,
                     CASE WHEN random() < 0.1 THEN 'gpt-4o-mini'
                          ELSE (%(models)s::text[])[1 + t.id %% 5] END AS model,
                     (%(tools)s::text[])[1 + (t.id + k) %% 6] AS tool,
                     k = n.spans - 1 AND (t.id * 2654435761) %% 1000 < 30 AS failed,
                     200 + floor(random() * 3000)::int AS tokens_in,
                     20 + floor(random() * 800)::int AS tokens_out,
                     (SELECT body FROM bench_text WHERE i = (t.id * 31 + k * 2) %% %(pool)s) AS question,
                     (SELECT body FROM bench_text WHERE i = (t.id * 31 + k * 2 + 1) %% %(pool)s) AS answer
             ) AS x
WHERE t.project_id = %(project)s
"""

# The roll-up ingestion keeps on each trace, computed once for the whole table.
ROLL_UP = """
UPDATE trace AS t SET span_count = a.spans, tokens_in = a.tokens_in, tokens_out = a.tokens_out, cost = a.cost,
                      has_error = a.failed, models = a.models, search_pending = true
FROM (SELECT trace_id, count(*) AS spans, COALESCE(sum(tokens_in), 0) AS tokens_in,
             COALESCE(sum(tokens_out), 0) AS tokens_out, sum(cost) AS cost, bool_or(status = 'error') AS failed,
             COALESCE(array_agg(DISTINCT model ORDER BY model) FILTER (WHERE model IS NOT NULL), '{}') AS models
      FROM span GROUP BY trace_id) AS a
WHERE t.id = a.trace_id
"""


# Every 50th trace is annotated (2%, as a reviewed sample would be); a third of those fail.
INSERT_ANNOTATIONS = """
INSERT INTO annotation (project_id, trace_id, annotator, verdict, feedback, updated_at)
SELECT t.project_id, t.id, 'import:bench',
       CASE WHEN t.id %% 150 = 0 THEN 'fail' ELSE 'pass' END,
       CASE WHEN t.id %% 150 = 0 THEN 'quoted a policy that does not exist' ELSE '' END,
       t.start_time + interval '1 hour'
FROM trace t WHERE t.project_id = %(project)s AND t.id %% 50 = 0
"""


# Disputes: a second annotator says the opposite on every 250th trace; every 500th is adjudicated.
INSERT_DISPUTES = """
INSERT INTO annotation (project_id, trace_id, annotator, verdict, feedback, updated_at)
SELECT a.project_id, a.trace_id, 'import:bench-2', CASE a.verdict WHEN 'fail' THEN 'pass' ELSE 'fail' END,
       CASE a.verdict WHEN 'fail' THEN '' ELSE 'not what was asked' END, a.updated_at
FROM annotation a WHERE a.project_id = %(project)s AND a.trace_id %% 250 = 0;
INSERT INTO adjudication (project_id, trace_id, verdict, note)
SELECT project_id, id, 'pass', 'fine after all' FROM trace WHERE project_id = %(project)s AND id %% 500 = 0
"""

# One issue, named by the failing annotations, with an active evaluator that judged every 5th trace.
INSERT_EVALUATOR = """
WITH i AS (INSERT INTO issue (project_id, title) VALUES (%(project)s, 'Quotes a policy that does not exist')
           RETURNING id),
     e AS (INSERT INTO evaluator (project_id, issue_id, name, active) SELECT %(project)s, id, 'Made-up policy', true
           FROM i RETURNING id),
     v AS (INSERT INTO evaluator_version (evaluator_id, number, status, family, spec) SELECT id, 1, 'ready', 'rule',
           '{}' FROM e RETURNING id, evaluator_id)
INSERT INTO annotation_issue (annotation_id, issue_id)
SELECT a.id, i.id FROM annotation a, i WHERE a.project_id = %(project)s AND a.verdict = 'fail';
UPDATE evaluator e SET active_version_id = v.id FROM evaluator_version v
WHERE v.evaluator_id = e.id AND e.project_id = %(project)s;
INSERT INTO eval_result (evaluator_version_id, trace_id, trace_start, verdict)
SELECT e.active_version_id, t.id, t.start_time, CASE WHEN t.id %% 35 = 0 THEN 'fail' ELSE 'pass' END
FROM trace t JOIN evaluator e ON e.project_id = t.project_id WHERE t.project_id = %(project)s AND t.id %% 5 = 0
"""


def seed_spans(url: str, project_id: int, spans: int) -> tuple[int, int]:
    traces = -(-spans // int(SPANS_PER_TRACE * 16)) * 16  # whole cycles of 5..20 spans: at least `spans`
    params = {"project": project_id, "traces": traces, "names": NAMES, "tags": TAGS, "models": MODELS,
              "tools": TOOLS, "pool": TEXT_POOL}
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")
        conn.execute("CREATE UNLOGGED TABLE bench_text (i int PRIMARY KEY, body text)")
        with conn.cursor().copy("COPY bench_text (i, body) FROM STDIN") as copy:
            for i, body in enumerate(text_pool()):
                copy.write_row((i, body))
        for label, statement in (("traces", INSERT_TRACES), ("spans", INSERT_SPANS), ("roll-up", ROLL_UP),
                                 ("annotations", INSERT_ANNOTATIONS), ("disputes", INSERT_DISPUTES),
                                 ("evaluator", INSERT_EVALUATOR)):
            started = time.perf_counter()
            for part in statement.split(";\n"):  # one statement per call (server-side parameters)
                conn.execute(part, params)
            print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)
        conn.execute("DROP TABLE bench_text")
        return conn.execute("SELECT count(*) FROM trace").fetchone()[0], \
            conn.execute("SELECT count(*) FROM span").fetchone()[0]


def index_search() -> None:
    """The worker's search indexing task, run until no trace waits for it."""
    from app.traces import tasks

    started = time.perf_counter()
    while tasks.index_search.run():
        pass
    print(f"  search indexing: {time.perf_counter() - started:.1f} s", flush=True)


def analyze(url: str) -> None:
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE trace")
        conn.execute("VACUUM ANALYZE span")
        conn.execute("VACUUM ANALYZE annotation")


# ---------------------------------------------------------------------------
# Measuring

CASES = [
    ("newest first", ""),
    ("newest first, deep page", "@deep"),
    ("last 24 hours", "range=24h"),
    ("last hour", "range=1h"),
    ("name", "name=classify_intent"),
    ("model", "model=claude-3-5-sonnet"),
    ("tag", "tag=vip"),
    ("environment (15%)", "environment=staging"),
    ("release", "release=v1.3"),
    ("session", "session_id=session-4242"),
    ("user", "user_id=user-42"),
    ("errors", "status=error"),
    ("errors, deep page", "status=error&@deep"),
    ("search, common word", "q=refund"),
    ("search, common word, deep page", "q=refund&@deep"),
    ("search, rare word", f"q={RARE_WORD}"),
    ("search, two words", "q=flight+delayed"),
    ("slowest first", "sort=latency"),
    ("slowest first, deep page", "sort=latency&@deep"),
    ("fastest first", "sort=latency&order=asc"),
    ("most tokens", "sort=tokens"),
    ("most expensive", "sort=cost"),
    ("cheapest, deep page", "sort=cost&order=asc&@deep"),
    ("staging errors, slowest first", "environment=staging&status=error&sort=latency"),
    ("errors, most expensive", "status=error&sort=cost"),
    ("model + 7 days + search", "model=gpt-4o-mini&range=7d&q=refund"),
    ("tag + errors", "tag=beta&status=error"),
    ("user, most expensive", "user_id=user-42&sort=cost"),
    ("annotated (2%)", "annotated=yes"),
    ("failed annotations (0.7%)", "annotated=fail"),
    ("not annotated, deep page", "annotated=no&@deep"),
    ("annotated, slowest first", "annotated=yes&sort=latency"),
    ("labelled passed (1.3%)", "annotated=pass"),
    ("labelled failed, slowest first", "annotated=fail&sort=latency"),
    ("evaluator failed (2.9%)", "evaluator=@evaluator&evaluator_verdict=fail"),
    ("evaluator judged (20%), deep page", "evaluator=@evaluator&@deep"),
    ("issue: labelled or flagged (3.4%)", "issue=@issue"),
    ("issue + errors", "issue=@issue&status=error"),
    ("environment, most tokens, deep", "environment=production&sort=tokens&@deep"),
]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def timed(action: Callable[[], object], runs: int, warmup: int = 3) -> tuple[float, float]:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), percentile(samples, 0.95)


def query_params(case: str, ids: dict[str, int]) -> dict[str, str]:
    """The URL parameters of a case, with the seeded evaluator's and issue's ids filled in."""
    from urllib.parse import parse_qsl

    for name, value in ids.items():
        case = case.replace(f"@{name}", str(value))
    return dict(parse_qsl(case.replace("@deep", "")))


def deep_cursor(session, project_id: int, params: dict[str, str]) -> str | None:
    """The cursor DEEP_ROWS rows into the list (or the last page's, for shorter lists)."""
    from app.traces import views

    filters = list_filters(params)
    cursor = None
    for _ in range(DEEP_ROWS // PAGE_SIZE):
        _, following = views.trace_page(session, project_id, filters, cursor)
        if following is None:
            break
        cursor = following
    return cursor


def list_filters(params: dict[str, str]):
    """The filters the list view would make of these URL parameters."""
    from starlette.requests import Request

    from app.traces import views

    query = "&".join(f"{k}={v}" for k, v in params.items()).encode()
    return views.list_query(Request({"type": "http", "query_string": query, "headers": []})).filters


def signed_in_client(app):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about its httpx-based client
        from fastapi.testclient import TestClient

    from app.core.security import CSRF_COOKIE, CSRF_HEADER

    client = TestClient(app, base_url="http://bench")
    client.get("/healthz")
    response = client.post("/login", data={"email": "bench@example.com", "password": PASSWORD},
                           headers={CSRF_HEADER: client.cookies[CSRF_COOKIE], "HX-Request": "true"})
    assert response.status_code == 204, response.text
    return client


def measure(project_id: int, runs: int) -> list[tuple[str, float, float, float, float]]:
    from urllib.parse import urlencode

    from sqlalchemy import text

    from app.core.db import session_factory
    from app.main import create_app
    from app.traces import views

    app = create_app()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    client = signed_in_client(app)
    session = session_factory()()
    results = []

    reference = text("SELECT * FROM trace WHERE project_id = :p ORDER BY start_time DESC LIMIT 50")
    query_ms = timed(lambda: session.execute(reference, {"p": project_id}).all(), runs)
    results.append(("reference: bare SELECT … ORDER BY start_time DESC LIMIT 50", *query_ms, None, None))
    print_row(results[-1])

    ids = dict(session.execute(text(
        "SELECT 'evaluator', min(id) FROM evaluator WHERE project_id = :p UNION ALL "
        "SELECT 'issue', min(id) FROM issue WHERE project_id = :p"), {"p": project_id}).all())
    for name, case in CASES:
        params = query_params(case, ids)
        cursor = deep_cursor(session, project_id, params) if "@deep" in case else None
        filters = list_filters(params)
        query_ms = timed(lambda: views.trace_page(session, project_id, filters, cursor), runs)
        url = f"/projects/{project_id}/traces?" + urlencode({**params, **({"cursor": cursor} if cursor else {})})
        page_ms = timed(lambda: _ok(client.get(url)), runs)
        results.append((name, *query_ms, *page_ms))
        print_row(results[-1])

    for name, url, headers in detail_urls(session, project_id):
        results.append((name, None, None, *timed(lambda: _ok(client.get(url, headers=headers)), runs)))
        print_row(results[-1])
    session.close()
    return results


def detail_urls(session, project_id: int) -> list[tuple[str, str, dict]]:
    from sqlalchemy import text

    trace_id, session_id = session.execute(text(
        "SELECT id, session_id FROM trace WHERE project_id = :p AND span_count = 20 ORDER BY id DESC LIMIT 1"),
        {"p": project_id}).one()
    span_id = session.scalar(text("SELECT max(id) FROM span WHERE trace_id = :t"), {"t": trace_id})
    base = f"/projects/{project_id}"
    return [("trace detail (20 spans)", f"{base}/traces/{trace_id}", {}),
            ("span panel (HTMX)", f"{base}/traces/{trace_id}/spans/{span_id}", {"HX-Request": "true"}),
            ("session view", f"{base}/sessions/{session_id}", {})]


def _ok(response) -> None:
    assert response.status_code == 200, (response.status_code, response.text[:300])


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def print_row(row) -> None:
    name, q_median, q_p95, p_median, p_p95 = row
    worst = max(v for v in (q_p95, p_p95) if v is not None)
    flag = "" if worst < TARGET_P95_MS else "  MISS"
    print(f"{name:<62} {_ms(q_median):>8} {_ms(q_p95):>8} {_ms(p_median):>9} {_ms(p_p95):>9}{flag}", flush=True)


def print_header() -> None:
    print(f"\n{'case':<62} {'query':>8} {'':>8} {'page':>9} {'':>9}")
    print(f"{'':<62} {'median':>8} {'p95':>8} {'median':>9} {'p95':>9}   (ms)")


# ---------------------------------------------------------------------------


def main() -> None:
    args = scratch_arguments(__doc__, "sextant_bench_explorer", runs=40).parse_args()

    url = use_database(args.database)
    try:
        if args.reuse:
            project_id = first_project_id(url)
        else:
            project_id = seed(url, args.spans)
        print_header()
        rows = measure(project_id, args.runs)
        misses = [row[0] for row in rows if max(v or 0 for v in row[1:]) >= TARGET_P95_MS]
        print(f"\n{len(misses)} of {len(rows)} cases miss p95 < {TARGET_P95_MS:.0f} ms" + (": " + ", ".join(misses)
              if misses else ""))
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
    index_search()
    analyze(url)
    print(f"  {traces:,} traces, {stored:,} spans", flush=True)
    return project_id


if __name__ == "__main__":
    main()
