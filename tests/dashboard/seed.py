"""Seeded traffic over ten days, with the figures the dashboard should show worked out here in
Python from the seeded values themselves (numpy percentiles, plain counting), not by SQL."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from app.traces import service as traces_service
from app.traces.schemas import SpanCreate, TraceCreate
from tests.gate.seed import FINE, REFUND, add_gating_pair

DAYS = 10


@dataclass
class Seeded:
    external_id: str
    day: object
    release: str | None
    environment: str
    duration_ms: float
    tokens: int
    cost: float
    error: bool
    output: str


def seed_traffic(session, project, today, n=240, seed=3, prefix="d", spread=DAYS) -> list[Seeded]:
    rng = np.random.default_rng(seed)
    rows, batch = [], []
    for i in range(n):
        day = today - timedelta(days=int(rng.integers(0, spread)))
        start = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) + timedelta(
            seconds=int(rng.integers(0, 86_000)))
        duration = float(rng.integers(50, 5000))
        release = [None, "v1", "v2"][int(rng.integers(0, 3))]
        environment = ["production", "staging"][int(rng.integers(0, 2))]
        tokens_in, tokens_out = int(rng.integers(10, 500)), int(rng.integers(10, 500))
        cost = round(float(rng.uniform(0, 0.02)), 6)
        error = bool(rng.random() < 0.12)
        output = (REFUND if rng.random() < 0.15 else FINE).format(i=i)
        end = start + timedelta(milliseconds=duration)
        batch.append(TraceCreate(
            id=f"{prefix}{i}", release=release, environment=environment, input=f"question {i}", output=output,
            start_time=start, end_time=end,
            spans=[SpanCreate(id="s1", name="llm", kind="llm", start_time=start, end_time=end,
                              status="error" if error else "ok", tokens_in=tokens_in, tokens_out=tokens_out,
                              cost=cost)]))
        rows.append(Seeded(f"{prefix}{i}", day, release, environment, duration, tokens_in + tokens_out, cost, error, output))
    spans, keys = traces_service.records_from_rest(batch)
    traces_service.ingest(session, project.id, spans, keys)
    session.flush()
    return rows


def expected_traffic(rows: list[Seeded], days, release=None, environment=None) -> dict[str, list]:
    chosen = [r for r in rows if (release is None or (r.release or "") == release)
              and (environment is None or r.environment == environment)]
    out = {"traces": [], "errors": [], "p50": [], "p95": [], "tokens": [], "cost": []}
    for day in days:
        today = [r for r in chosen if r.day == day]
        durations = [r.duration_ms for r in today]
        out["traces"].append(len(today))
        out["errors"].append(sum(r.error for r in today))
        out["p50"].append(float(np.percentile(durations, 50)) if today else None)
        out["p95"].append(float(np.percentile(durations, 95)) if today else None)
        out["tokens"].append(sum(r.tokens for r in today))
        out["cost"].append(sum(r.cost for r in today))
    return out


def expected_refund_rate(rows: list[Seeded], days, tpr=0.9, tnr=0.95, environment=None) -> list:
    """Rogan–Gladen by hand on what the refund rule flags each day."""
    estimates = []
    for day in days:
        today = [r for r in rows if r.day == day and (environment is None or r.environment == environment)]
        if not today:
            estimates.append(None)
            continue
        observed = sum(bool(re.search(r"refund within \d+ days", r.output)) for r in today) / len(today)
        estimates.append(min(1.0, max(0.0, (observed + tnr - 1) / (tpr + tnr - 1))))
    return estimates


__all__ = ["seed_traffic", "expected_traffic", "expected_refund_rate", "add_gating_pair", "DAYS"]
