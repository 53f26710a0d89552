"""The dashboard's figures: roll-up maintenance (worker) and what one page shows (web).

Pages read the daily roll-ups, never raw spans or traces; annotations, issues, queues,
evaluators and gate runs are small tables read directly. Never commits.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy.orm import Session

from app.annotations import service as annotations
from app.core.db import utcnow
from app.core.errors import Unprocessable
from app.dashboard import charts, repository
from app.dashboard.models import ALL
from app.evals import repository as evals_repository
from app.evals import service as evals
from app.gate import service as gate

PRESETS = (7, 30, 90)
NONE = "(none)"  # in a URL: traces without a release or environment
MAX_DAYS = 366
ALWAYS_REFRESHED_DAYS = 2  # today and yesterday: late spans update traces without new ids
REFRESH_CHUNK_DAYS = 31
LABEL_MARGIN = timedelta(minutes=10)
Z95 = 1.959963984540054
STATES = ("new", "ongoing", "escalating", "regressed", "resolved", "ignored")


# ---------------------------------------------------------------------------
# Roll-ups (worker)


def refresh(session: Session, project_id: int, now: datetime | None = None) -> int:
    """Recompute the roll-ups of every day with new traces or verdicts (and the last two days);
    returns how many days were recomputed. Idempotent: a day is replaced whole."""
    now = now or utcnow()
    state = repository.state(session, project_id)
    trace_mark, result_mark = repository.watermarks_now(session, project_id)
    # Labels are edited in place (no new id): re-read those written since the last refresh began,
    # with a margin for transactions that were still open then.
    since = state.refreshed_at - LABEL_MARGIN if state.refreshed_at else datetime.min.replace(tzinfo=timezone.utc)
    today = now.astimezone(timezone.utc).date()
    recent = {today - timedelta(days=k) for k in range(ALWAYS_REFRESHED_DAYS)}
    days = (repository.dirty_days(session, project_id, state.trace_watermark, state.result_watermark)
            | repository.days_with_new_labels(session, project_id, since) | recent)
    ordered = sorted(days)
    for at in range(0, len(ordered), REFRESH_CHUNK_DAYS):
        chunk = ordered[at:at + REFRESH_CHUNK_DAYS]
        start, end = _midnight(chunk[0]), _midnight(chunk[-1] + timedelta(days=1))
        counts = repository.replace_days(session, project_id, chunk, start, end)
        repository.insert_eval_days(session, _corrected_rows(session, project_id, counts))
        repository.replace_human_days(session, project_id, chunk, _human_rows(session, project_id, chunk, start, end))
    repository.replace_annotation_days(session, project_id,
                                       sorted(repository.days_with_new_annotations(session, project_id, since) | recent))
    state.trace_watermark, state.result_watermark = trace_mark, result_mark
    state.refreshed_at = now
    session.flush()
    return len(ordered)


def _corrected_rows(session: Session, project_id: int, counts: list) -> list[dict]:
    versions = evals_repository.versions_by_id(session, {row.evaluator_version_id for row in counts})
    memo: dict[tuple, dict] = {}
    rows = []
    for row in counts:
        key = (row.evaluator_version_id, row.fails, row.total)
        if key not in memo:
            memo[key] = evals.corrected_rate(versions[row.evaluator_version_id], row.fails, row.total)
        rate = memo[key]
        ci = rate.get("ci") or [None, None]
        rows.append({"evaluator_version_id": row.evaluator_version_id, "day": row.day, "release": row.release,
                     "environment": row.environment, "project_id": project_id, "fails": row.fails,
                     "total": row.total, "estimate": rate.get("estimate"), "ci_low": ci[0], "ci_high": ci[1]})
    return rows


def _human_rows(session: Session, project_id: int, days: list[date], start: datetime, end: datetime) -> list[dict]:
    """Labelled and failed traces (the one human-label rule) per day, for each release/environment
    combination and ALL, like the traffic roll-up."""
    traces = repository.labelled_traces(session, project_id, days, start, end)
    labels = annotations.labels_for_traces(session, [t for t, *_ in traces])
    labelled, fails = Counter(), Counter()
    for trace_id, day, release, environment in traces:
        verdict = labels[trace_id].verdict
        if verdict not in ("pass", "fail"):
            continue  # a tie waiting for adjudication is neither
        for key in ((day, ALL, ALL), (day, release, ALL), (day, ALL, environment), (day, release, environment)):
            labelled[key] += 1
            fails[key] += verdict == "fail"
    return [{"project_id": project_id, "day": day, "release": release, "environment": environment,
             "labelled": n, "fails": fails[(day, release, environment)]}
            for (day, release, environment), n in labelled.items()]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------
# What a page shows


@dataclass(frozen=True)
class View:
    """Date range and filters, as the URL carries them (a view can be shared as a link)."""

    start: date
    end: date  # inclusive
    preset: str  # "7" | "30" | "90" | "custom"
    release: str | None
    environment: str | None

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=k) for k in range((self.end - self.start).days + 1)]

    @property
    def start_at(self) -> datetime:
        return _midnight(self.start)

    @property
    def end_at(self) -> datetime:
        return _midnight(self.end + timedelta(days=1))

    def query(self, **changes) -> str:
        from urllib.parse import urlencode

        values = {"range": self.preset, "release": _url_value(self.release),
                  "environment": _url_value(self.environment),
                  "from": self.start.isoformat(), "to": self.end.isoformat(), **changes}
        if values["range"] != "custom":
            values["from"] = values["to"] = None
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def _url_value(value: str | None) -> str | None:
    return NONE if value == "" else value


def parse_view(range_: str | None, start: str | None, end: str | None, release: str | None,
               environment: str | None, today: date | None = None) -> View:
    today = today or utcnow().date()
    preset = range_ or "30"
    if preset == "custom":
        try:
            first, last = date.fromisoformat(start or ""), date.fromisoformat(end or "")
        except ValueError:
            raise Unprocessable("A custom range needs 'from' and 'to' dates (YYYY-MM-DD).") from None
        if last < first or (last - first).days >= MAX_DAYS:
            raise Unprocessable(f"'to' must follow 'from', at most {MAX_DAYS} days later.")
    elif preset in {str(p) for p in PRESETS}:
        first, last = today - timedelta(days=int(preset) - 1), today
    else:
        raise Unprocessable("range must be 7, 30, 90 or custom.")
    return View(first, last, preset, _filter_value(release), _filter_value(environment))


def _filter_value(value: str | None) -> str | None:
    """'' or absent: no filter; NONE: traces without a release (environment)."""
    return "" if value == NONE else (value or None)


def _filter_key(value: str | None) -> str:
    return ALL if value is None else value


def wilson(fails: int, n: int) -> tuple[float, float]:
    centre = (fails / n + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
    half = Z95 * math.sqrt(fails / n * (1 - fails / n) / n + Z95 ** 2 / (4 * n * n)) / (1 + Z95 ** 2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def traffic(session: Session, project_id: int, view: View) -> dict[str, list]:
    rows = {r.day: r for r in repository.traffic_days(session, project_id, view.start, view.end,
                                                      _filter_key(view.release), _filter_key(view.environment))}
    out: dict[str, list] = defaultdict(list)
    for day in view.days:
        row = rows.get(day)
        out["traces"].append(row.traces if row else 0)
        out["errors"].append(row.errors if row else 0)
        out["error_rate"].append(row.errors / row.traces if row and row.traces else None)
        out["p50"].append(row.latency_p50 if row else None)
        out["p95"].append(row.latency_p95 if row else None)
        out["tokens"].append(row.tokens if row else 0)
        out["cost"].append(row.cost if row else 0.0)
    return dict(out)


def human(session: Session, project_id: int, view: View) -> dict:
    """Human failure rate per day of trace start (the one label rule) with its Wilson interval;
    annotations per day (the day they were made) and per annotator, and the hours measured."""
    rows = {r.day: r for r in repository.human_days(session, project_id, view.start, view.end,
                                                    _filter_key(view.release), _filter_key(view.environment))}
    labelled = [rows[d].labelled if d in rows else 0 for d in view.days]
    fails = [rows[d].fails if d in rows else 0 for d in view.days]
    intervals = [wilson(f, n) if n else (None, None) for f, n in zip(fails, labelled)]
    work = repository.annotation_days(session, project_id, view.start, view.end)
    per_day, per_annotator = Counter(), Counter()
    for row in work:
        per_day[row.day] += row.annotations
        per_annotator[row.annotator] += row.annotations
    timed = sum(row.timed for row in work)
    return {"rate": [f / n if n else None for f, n in zip(fails, labelled)],
            "low": [i[0] for i in intervals], "high": [i[1] for i in intervals], "labelled": labelled,
            "fails": fails, "annotations": [per_day[d] for d in view.days],
            "by_annotator": sorted(per_annotator.items(), key=lambda item: (-item[1], item[0])),
            # The workbench measures time per item; imported labels have none.
            "hours": sum(row.seconds for row in work) / 3600 if timed else None, "timed": timed}


def issue_rates(session: Session, project_id: int, view: View) -> list[dict]:
    """Per issue with an active evaluator: the corrected failure rate per day with its interval."""
    pairs = evals_repository.running_active_versions(session, project_id)
    titles = {i.id: i.title for i in repository.issues_of(session, project_id)}
    rows = repository.eval_days(session, [v.id for _, v in pairs], view.start, view.end,
                                _filter_key(view.release), _filter_key(view.environment))
    by_version: dict[int, dict[date, object]] = defaultdict(dict)
    for row in rows:
        by_version[row.evaluator_version_id][row.day] = row
    found = []
    for evaluator, version in pairs:
        days = by_version.get(version.id, {})
        pick = [days.get(day) for day in view.days]
        found.append({"issue_id": evaluator.issue_id, "issue": titles.get(evaluator.issue_id, evaluator.name),
                      "evaluator": evaluator, "version": version,
                      "estimate": [r.estimate if r else None for r in pick],
                      "low": [r.ci_low if r else None for r in pick], "high": [r.ci_high if r else None for r in pick],
                      "fails": [r.fails if r else 0 for r in pick], "n": [r.total if r else 0 for r in pick]})
    return sorted(found, key=lambda f: f["issue"])


def top_issues(rates: list[dict], limit: int = 10) -> list[dict]:
    """Issues by evaluator-detected occurrences in the range; trend = second half minus first half."""
    ranked = []
    for figure in rates:
        fails = figure["fails"]
        half = len(fails) // 2
        ranked.append({"issue": figure["issue"], "issue_id": figure["issue_id"], "occurrences": sum(fails),
                       "trend": sum(fails[len(fails) - half:]) - sum(fails[:half])})
    return sorted(ranked, key=lambda r: (-r["occurrences"], r["issue"]))[:limit]


def issues_by_state(session: Session, project_id: int, view: View) -> dict[str, list[int]]:
    """How many issues were in each state at the end of each day (replayed from their events)."""
    issues = repository.issues_of(session, project_id)
    events = defaultdict(list)
    for event in repository.issue_events(session, [i.id for i in issues]):
        events[event.issue_id].append(event)
    counts = {state: [0] * len(view.days) for state in STATES}
    for issue in issues:
        history = events.get(issue.id, [])
        initial = history[0].from_state if history and history[0].from_state else issue.state
        for k, day in enumerate(view.days):
            end = _midnight(day + timedelta(days=1))
            if issue.created_at >= end:
                continue
            state = initial
            for event in history:
                if event.at >= end:
                    break
                state = event.to_state
            if state in counts:
                counts[state][k] += 1
    return counts


def alignment(session: Session, project_id: int) -> list[dict]:
    """Active evaluators, weakest first: the 'retire or refine' list."""
    rows = []
    for evaluator, version in evals_repository.running_active_versions(session, project_id):
        reason = gate.exclusion_reason(evaluator, version)
        rows.append({"evaluator": evaluator, "version": version, "mcc": version.mcc,
                     "ci": (version.mcc_ci_low, version.mcc_ci_high),
                     "n": (version.metrics or {}).get("n", version.holdout_size), "tpr": version.tpr,
                     "tnr": version.tnr, "fit": reason is None, "reason": reason,
                     "drift": (evaluator.drift or {}).get("status"), "realigned_at": evaluator.realigned_at})
    return sorted(rows, key=lambda r: (r["mcc"] is not None, r["mcc"] or 0))


def gate_summary(session: Session, project_id: int, view: View) -> list[dict]:
    by_release: dict[str, dict] = {}
    for release, verdict, runs, last_id, last_at in repository.gate_runs(session, project_id, view.start_at,
                                                                          view.end_at):
        entry = by_release.setdefault(release, {"release": release, "pass": 0, "fail": 0, "error": 0,
                                                "pending": 0, "last_id": last_id, "last_at": last_at})
        entry[verdict or "pending"] += runs
        if last_at > entry["last_at"]:
            entry["last_id"], entry["last_at"] = last_id, last_at
    return sorted(by_release.values(), key=lambda e: e["last_at"], reverse=True)


def roi(session: Session, project_id: int, view: View, gates: list[dict]) -> dict:
    """From the seed's definitions: regressions caught before release (gate runs that failed),
    hours from an issue's first occurrence to its detection (the issue recorded) and to its resolution."""
    issues = [i for i in repository.issues_of(session, project_id)
              if view.start_at <= i.created_at < view.end_at]

    def hours(pairs) -> float | None:
        spans = [max(0.0, (later - earlier).total_seconds() / 3600) for earlier, later in pairs if earlier and later]
        return statistics.median(spans) if spans else None

    return {"regressions_caught": sum(g["fail"] for g in gates),
            "releases_stopped": sum(1 for g in gates if g["fail"]),
            "issues": len(issues),
            "to_detection_h": hours((i.first_seen, i.created_at) for i in issues),
            "to_resolution_h": hours((i.first_seen, i.resolved_at) for i in issues),
            "resolved": sum(1 for i in issues if i.resolved_at)}


def project_page(session: Session, project_id: int, view: View) -> dict:
    labels = [d.isoformat() for d in view.days]
    volume = traffic(session, project_id, view)
    people = human(session, project_id, view)
    rates = issue_rates(session, project_id, view)
    states = issues_by_state(session, project_id, view)
    gates = gate_summary(session, project_id, view)
    releases, environments = repository.filter_values(session, project_id, view.start, view.end)
    charts_ = {
        "traces": charts.Chart("traces", "Traces per day", labels, [charts.Series("traces", volume["traces"])],
                               charts.count, kind="bar"),
        "errors": charts.Chart("errors", "Error rate", labels, [charts.Series("error rate", volume["error_rate"])],
                               charts.percent),
        "latency": charts.Chart("latency", "Latency", labels, [charts.Series("p50", volume["p50"]),
                                                               charts.Series("p95", volume["p95"])],
                                charts.milliseconds),
        "tokens": charts.Chart("tokens", "Tokens per day", labels, [charts.Series("tokens", volume["tokens"])],
                               charts.count, kind="bar"),
        "cost": charts.Chart("cost", "Cost per day", labels, [charts.Series("cost", volume["cost"])],
                             charts.dollars, kind="bar"),
        "human": charts.Chart("human", "Human failure rate (labelled traces, by trace day)", labels,
                              [charts.Series("failure rate", people["rate"], people["low"], people["high"])],
                              charts.percent, note="95% Wilson interval; days without labels are blank."),
        "annotations": charts.Chart("annotations", "Annotations per day (all releases and environments)", labels,
                                    [charts.Series("annotations", people["annotations"])], charts.count, kind="bar"),
        "states": charts.Chart("states", "Issues by state", labels,
                               [charts.Series(state, states[state]) for state in STATES], charts.count, kind="bar"),
    }
    issue_charts = [charts.Chart(f"issue-{f['issue_id']}", f["issue"], labels,
                                 [charts.Series("estimated true failure rate", f["estimate"], f["low"], f["high"])],
                                 charts.percent,
                                 note=f"{f['evaluator'].name} v{f['version'].number}, corrected for TPR "
                                      f"{_fig(f['version'].tpr)} / TNR {_fig(f['version'].tnr)}; band: 95% interval "
                                      f"carrying TPR/TNR uncertainty")
                    for f in rates]
    return {"view": view, "charts": charts_, "issue_charts": list(zip(issue_charts, rates)),
            "volume": volume, "people": people, "top_issues": top_issues(rates), "states": states,
            "backlog": repository.queue_backlog(session, project_id), "alignment": alignment(session, project_id),
            "gates": gates, "roi": roi(session, project_id, view, gates), "releases": releases,
            "environments": environments, "refreshed_at": repository.refreshed_at(session, project_id),
            "labels": labels}


def _fig(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def organisation(session: Session, projects: list, view: View) -> list[dict]:
    totals = repository.organisation_totals(session, [p.id for p in projects], view.start, view.end)
    rows = []
    for project in projects:
        traces, errors, cost = totals.get(project.id, (0, 0, 0.0))
        rows.append({"project": project, "traces": traces or 0, "errors": errors or 0, "cost": cost or 0.0,
                     "error_rate": (errors / traces) if traces else None})
    return rows
