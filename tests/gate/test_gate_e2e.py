"""`sextant gate` against a live server and a real Celery worker.

Baseline: 1,000 production traces of release v1, evaluated online by the worker: 10% promise
a refund window (the fit evaluator's issue), 10% over-apologise (an evaluator not fit for gating).
"""

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.e2e.test_evaluator_loop import seed as seed_project
from tests.e2e.test_evaluator_loop import signed_in, wait_for
from tests.gate.seed import add_gating_pair, outputs
from tests.live import free_port

pytestmark = pytest.mark.slow


def seed(live):
    email, project_id, key = seed_project(live)
    engine = create_engine(live.database_url)
    with Session(engine) as session:
        ids = add_gating_pair(session, project_id)
        session.commit()
    engine.dispose()
    return {"email": email, "project_id": project_id, "key": key, **ids}


def ingest(live, key: str, rows: list[dict], **fields) -> None:
    api = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    start = datetime.now(timezone.utc) - timedelta(days=1)
    for at in range(0, len(rows), 250):
        batch = [{**row, "start_time": (start + timedelta(seconds=at + i)).isoformat(), **fields}
                 for i, row in enumerate(rows[at:at + 250])]
        assert api.post("/api/v1/traces", json={"traces": batch}).status_code == 200


def gate(live, key: str, *args: str, url: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", "gate", "--url", url or live.url, "--api-key", key,
                           *args], capture_output=True, text=True, timeout=300, env=live.env)


def write(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.fixture
def seeded(live, celery_worker):
    ids = seed(live)
    ingest(live, ids["key"], outputs("base", 1000, 0.10, 0.10), release="v1", environment="production")
    wait_for(lambda: live.sql("SELECT count(*) FROM eval_result")[0][0] == 2000, timeout=180)
    return ids


def test_doubled_failure_rate_fails_and_an_equal_candidate_passes(live, seeded, tmp_path):
    key = seeded["key"]
    doubled = gate(live, key, "--release", "v2", "--file", write(tmp_path / "bad.jsonl", outputs("c", 600, 0.2, 0.1)),
                   "--commit", "abc123", "--wait", "--format", "json")
    assert doubled.returncode == 1, doubled.stderr
    run = json.loads(doubled.stdout)
    [refund] = [row for row in run["report"]["issues"] if row["issue"] == "Invented refund window"]
    # Worked by hand: observed 100/1000 and 120/600; corrected (obs + 0.95 - 1) / 0.85.
    assert (refund["baseline"]["fails"], refund["baseline"]["n"]) == (100, 1000)
    assert (refund["candidate"]["fails"], refund["candidate"]["n"]) == (120, 600)
    assert refund["difference"] == pytest.approx((0.20 - 0.05) / 0.85 - (0.10 - 0.05) / 0.85)
    assert refund["decision"] == "regression" and refund["ci"][0] > 0.02
    assert run["verdict"] == "fail" and run["commit"] == "abc123" and run["total"] == run["done"] == 600
    assert [e["name"] for e in run["report"]["excluded"]] == ["Detects: Over-apologising"]
    assert "below SEXTANT_GATE_MIN_MCC" in run["report"]["excluded"][0]["reason"]
    assert live.sql("SELECT count(*) FROM gate_output")[0][0] == 0  # uploaded outputs dropped once evaluated

    table = gate(live, key, "--release", "v2", "--file", str(tmp_path / "bad.jsonl"), "--wait")
    assert table.returncode == 1 and "Invented refund window" in table.stdout and "REGRESSION" in table.stdout

    # The over-apologising rate quadruples, but its evaluator is not fit to decide.
    equal = gate(live, key, "--release", "v3", "--file", write(tmp_path / "ok.jsonl", outputs("e", 600, 0.1, 0.4)),
                 "--wait", "--format", "junit")
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert 'failures="0"' in equal.stdout and "left out: MCC CI lower bound 0.20" in equal.stdout

    admin = signed_in(live.url, seeded["email"])
    listing = admin.get(f"/projects/{seeded['project_id']}/gate-runs?release=v2")
    assert listing.status_code == 200 and listing.text.count('data-verdict="fail"') == 2
    report = admin.get(f"/projects/{seeded['project_id']}/gate-runs/{run['id']}").text
    assert 'data-decision="regression"' in report and "Over-apologising" in report and "abc123" in report


def test_traces_already_ingested_with_the_release_are_gated(live, seeded):
    ingest(live, seeded["key"], outputs("v2", 400, 0.25, 0.1), release="v2", environment="staging")
    result = gate(live, seeded["key"], "--release", "v2", "--traces-filter", "environment=staging", "--wait",
                  "--baseline", "release:v1", "--format", "json")
    assert result.returncode == 1, result.stderr
    run = json.loads(result.stdout)
    [refund] = [row for row in run["report"]["issues"] if row["issue"] == "Invented refund window"]
    assert (refund["candidate"]["fails"], refund["candidate"]["n"]) == (100, 400)
    assert run["traces_filter"] == {"environment": "staging", "release": "v2"}


def test_unreachable_server_empty_file_and_nothing_fit_exit_2(live, celery_worker, tmp_path):
    ids = seed(live)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    unreachable = gate(live, ids["key"], "--release", "v2", "--file", write(tmp_path / "a.jsonl", outputs("a", 3, 0, 0)),
                       "--wait", url=f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stderr
    bad_filter = gate(live, ids["key"], "--release", "v2", "--traces-filter", "status=maybe", "--wait")
    assert bad_filter.returncode == 2 and "--traces-filter: Status (status) must be" in bad_filter.stderr
    nothing = gate(live, ids["key"], "--release", "v2", "--file", str(empty), "--wait")
    assert nothing.returncode == 2 and "nothing to gate" in nothing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "output": "x"}\nnot json\n')
    refused = gate(live, ids["key"], "--release", "v2", "--file", str(bad), "--wait")
    assert refused.returncode == 2 and "not JSON" in refused.stderr

    live.sql("UPDATE evaluator_version SET mcc_ci_low = 0.1")  # neither is fit now
    unfit = gate(live, ids["key"], "--release", "v2", "--file", str(tmp_path / "a.jsonl"), "--wait")
    assert unfit.returncode == 2 and "Nothing fit to gate" in unfit.stdout
