"""Dashboard figures against figures worked out in the test from the seeded values."""

import math
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.core import jobs
from app.core.db import utcnow
from app.dashboard import service, tasks
from app.evals import service as evals_service
from app.traces.models import Trace
from tests.dashboard.seed import DAYS, add_gating_pair, expected_refund_rate, expected_traffic, seed_traffic
from tests.factories import PASSWORD


@pytest.fixture
def seeded(db, project):
    today = utcnow().date()
    rows = seed_traffic(db, project, today)
    ids = add_gating_pair(db, project.id)
    trace_ids = [t for (t,) in db.query(Trace.id).filter(Trace.project_id == project.id)]
    evals_service.evaluate_traces(db, project.id, trace_ids)
    db.commit()
    days = [today - timedelta(days=DAYS - 1 - k) for k in range(DAYS)]
    return {"rows": rows, "days": days, "today": today, **ids}


def view(today, release=None, environment=None):
    return service.parse_view("custom", (today - timedelta(days=DAYS - 1)).isoformat(), today.isoformat(),
                              release, environment, today=today)


def refresh(db, project) -> int:
    return tasks.refresh(jobs.joined(db), project.id)


def close(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert (a is None and e is None) or a == pytest.approx(e, rel=1e-9, abs=1e-9), (actual, expected)


@pytest.mark.parametrize("release,environment", [(None, None), ("v1", None), (None, "staging"),
                                                     ("(none)", "production")])
def test_traffic_figures_match_the_seeded_values(db, project, seeded, release, environment):
    assert refresh(db, project) == DAYS
    shown = service.traffic(db, project.id, view(seeded["today"], release, environment))
    expected = expected_traffic(seeded["rows"], seeded["days"], "" if release == "(none)" else release, environment)
    for name in ("traces", "errors", "p50", "p95", "tokens", "cost"):
        close(shown[name], expected[name])
    close(shown["error_rate"], [e / n if n else None for e, n in zip(expected["errors"], expected["traces"])])


def test_corrected_issue_rate_per_day_matches_rogan_gladen_by_hand(db, project, seeded):
    refresh(db, project)
    for environment in (None, "production"):
        figures = service.issue_rates(db, project.id, view(seeded["today"], None, environment))
        [refund] = [f for f in figures if f["issue"] == "Invented refund window"]
        close(refund["estimate"], expected_refund_rate(seeded["rows"], seeded["days"], environment=environment))
        assert all(lo <= est <= hi for lo, est, hi in zip(refund["low"], refund["estimate"], refund["high"])
                   if est is not None)
    top = service.top_issues(figures)
    assert top[0]["issue"] == "Invented refund window"
    assert top[0]["occurrences"] == sum(bool(re.search(r"refund within", r.output)) for r in seeded["rows"]
                                        if r.environment == "production")


def test_new_traffic_is_rolled_up_by_the_next_refresh_only_for_its_days(db, project, seeded):
    refresh(db, project)
    assert refresh(db, project) == 2  # nothing new: today and yesterday only
    old_day = seeded["days"][0]
    seed_traffic(db, project, old_day, n=5, seed=99, prefix="late", spread=1)  # a late import, ten days back
    db.commit()
    assert refresh(db, project) == 3
    shown = service.traffic(db, project.id, view(seeded["today"]))
    assert shown["traces"][0] == expected_traffic(seeded["rows"], seeded["days"])["traces"][0] + 5


def test_human_failure_rate_and_annotations(client, db, project, key, seeded):
    labelled = seeded["rows"][:40]
    for i, row in enumerate(labelled):
        failing = "refund within" in row.output or i % 5 == 0
        response = client.post("/api/v1/annotations", headers=key, json={
            "trace_external_id": row.external_id, "verdict": "fail" if failing else "pass",
            "feedback": "wrong" if failing else "", "annotator": "qa" if i % 2 else "lead"})
        assert response.status_code == 201, response.text
    refresh(db, project)
    people = service.human(db, project.id, view(seeded["today"]))
    for k, day in enumerate(seeded["days"]):
        today = [(i, r) for i, r in enumerate(labelled) if r.day == day]
        fails = sum("refund within" in r.output or i % 5 == 0 for i, r in today)
        assert people["labelled"][k] == len(today) and people["fails"][k] == fails
        if today:
            # Wilson interval worked by hand
            p, n, z = fails / len(today), len(today), 1.959963984540054
            centre = (p + z * z / (2 * n)) / (1 + z * z / n)
            half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
            assert people["low"][k] == pytest.approx(max(0, centre - half))
            assert people["high"][k] == pytest.approx(min(1, centre + half))
    assert dict(people["by_annotator"]) == {"import:qa": 20, "import:lead": 20}
    staging = service.human(db, project.id, view(seeded["today"], environment="staging"))
    assert sum(staging["labelled"]) == sum(1 for r in labelled if r.environment == "staging")
    assert sum(people["annotations"]) == 40
    assert people["hours"] is None  # imported labels carry no time
    db.execute(text("UPDATE annotation SET seconds_spent = 90, updated_at = now() WHERE annotator = 'import:qa'"))
    db.commit()
    refresh(db, project)
    people = service.human(db, project.id, view(seeded["today"]))
    assert people["hours"] == pytest.approx(20 * 90 / 3600) and people["timed"] == 20


def test_the_page_shows_each_chart_with_its_table_and_filters_in_the_url(client, factory, db, project, seeded):
    refresh(db, project)
    client.login(factory.user("viewer").email, PASSWORD)
    page = client.get(f"/projects/{project.id}/dashboard?range=custom&from={seeded['days'][0]}"
                      f"&to={seeded['today']}&environment=staging")
    assert page.status_code == 200
    expected = expected_traffic(seeded["rows"], seeded["days"], environment="staging")["traces"]
    table = page.text.split('data-table="traces"')[1].split("</table>")[0]
    assert [int(v) for v in re.findall(r'data-value="(\d+)"', table)] == expected
    for key in ("traces", "errors", "latency", "tokens", "cost", "human", "annotations", "states"):
        assert f'data-chart="{key}"' in page.text and f'data-table="{key}"' in page.text
    assert 'id="alignment"' in page.text and "MCC CI lower bound 0.20" in page.text
    assert client.get(f"/projects/{project.id}/dashboard?range=12").status_code == 422
    overview = client.get("/dashboard?range=30")
    assert overview.status_code == 200 and project.name in overview.text
