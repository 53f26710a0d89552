"""Figures of issues: occurrences, affected traces, the 14-day trend, evaluators with their MCC.

A module of its own because the figures read across three domains — the human label
rule (annotations), evaluator results (evals) and trace times — and four readers need
them: the board, the issue page, the API and the worker's escalation check.

Occurrences are counted in distinct traces, kept apart by source:

- *human*: traces whose human label (`annotations.service.labels_for_traces`, the one
  label rule) is a fail naming the issue;
- *detected*: traces with a fail result from the active version of an active evaluator
  of the issue.

A trace both labelled and detected is one affected trace. Its time is the trace's start.
Every figure for a list of issues costs a fixed number of queries, whatever the list's length.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from app.annotations import service as annotations
from app.core.settings import eval_settings
from app.issues import repository

TREND_DAYS = 14


@dataclass(frozen=True)
class EvaluatorFigure:
    id: int
    name: str
    active: bool
    version: int | None
    mcc: float | None
    mcc_ci_low: float | None
    mcc_ci_high: float | None
    version_is_active: bool  # False: the latest ready version of an evaluator never activated

    @property
    def fit_for_gating(self) -> bool:
        return eval_settings().fit_for_gating(self.mcc_ci_low)


@dataclass
class IssueFigures:
    human: int = 0
    detected: int = 0
    traces: int = 0
    last_at: datetime | None = None
    trend: list[int] = field(default_factory=lambda: [0] * TREND_DAYS)
    evaluators: list[EvaluatorFigure] = field(default_factory=list)

    @property
    def best_evaluator(self) -> EvaluatorFigure | None:
        return next((e for e in self.evaluators if e.mcc is not None), None)

    @property
    def trend_change(self) -> int:
        """Occurrences in the last 7 days minus the 7 before: what "sort by trend" orders by."""
        half = TREND_DAYS // 2
        return sum(self.trend[half:]) - sum(self.trend[:half])


def trend_start(now: datetime) -> datetime:
    """Midnight UTC starting the first of the TREND_DAYS days that end today."""
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=TREND_DAYS - 1)


def human_occurrences(session: Session, project_id: int, issue_ids: Sequence[int]) -> dict[int, dict[int, datetime]]:
    """issue id -> {trace id: trace start} for the traces whose human label is a fail naming it."""
    candidates = repository.traces_naming_issues(session, project_id, issue_ids)
    wanted = set(issue_ids)
    found: dict[int, dict[int, datetime]] = defaultdict(dict)
    for trace_id, label in annotations.labels_for_traces(session, list(candidates)).items():
        if label.verdict == "fail":
            for issue_id in label.issue_ids & wanted:
                found[issue_id][trace_id] = candidates[trace_id]
    return found


def _human_triples(human: dict[int, dict[int, datetime]]) -> list[tuple[int, int, datetime]]:
    return [(issue_id, trace_id, at) for issue_id, traces in human.items() for trace_id, at in traces.items()]


def figures(session: Session, project_id: int, issue_ids: Sequence[int], now: datetime,
            human: dict[int, dict[int, datetime]] | None = None) -> dict[int, IssueFigures]:
    """Figures for each issue id (zeros for issues without occurrences); pass `human` when
    the caller already has `human_occurrences` of these issues."""
    result = {issue_id: IssueFigures() for issue_id in issue_ids}
    if not issue_ids:
        return result
    start = trend_start(now)
    human = human_occurrences(session, project_id, issue_ids) if human is None else human
    rows = repository.occurrence_figures(session, project_id, issue_ids, _human_triples(human), start)
    for issue_id, is_day, day, n_human, n_detected, n_traces, last_at in rows:
        figure = result[issue_id]
        if not is_day:
            figure.human, figure.detected, figure.traces, figure.last_at = n_human, n_detected, n_traces, last_at
        elif day is not None:
            index = (day.astimezone(timezone.utc) - start).days
            if 0 <= index < TREND_DAYS:
                figure.trend[index] = n_traces
    for issue_id, *evaluator in repository.evaluators_of(session, issue_ids):
        result[issue_id].evaluators.append(EvaluatorFigure(*evaluator))
    return result


def hourly_counts(session: Session, project_id: int, issue_ids: Sequence[int],
                  since: datetime) -> dict[int, dict[datetime, int]]:
    """issue id -> {start of UTC hour: affected traces} from `since` on (the escalation input)."""
    human = human_occurrences(session, project_id, issue_ids)
    triples = [t for t in _human_triples(human) if t[2] >= since]
    counts: dict[int, dict[datetime, int]] = defaultdict(dict)
    for issue_id, hour, count in repository.hourly_occurrences(session, project_id, issue_ids, triples, since):
        counts[issue_id][hour.astimezone(timezone.utc)] = count
    return counts


def sort_issues(issues: Sequence, figures: dict[int, IssueFigures], sort: str) -> list:
    """Order for the board and the API: most occurrences, fastest rising, or most recently seen first."""
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    keys = {
        "occurrences": lambda i: (-figures[i.id].traces, -i.id),
        "trend": lambda i: (-figures[i.id].trend_change, -figures[i.id].traces, -i.id),
        "last_seen": lambda i: (-(i.last_seen or epoch).timestamp(), -i.id),
    }
    return sorted(issues, key=keys.get(sort, keys["last_seen"]))
