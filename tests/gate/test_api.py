"""The gate's API in process: bad input refused whole, the run's life cycle, who may do what,
and the worker's body (run_batch) over a run, with evaluators left out for each reason."""

import json

import pytest
from sqlalchemy import text

from app.core import jobs
from app.core.settings import clear_caches
from app.gate import service, tasks
from app.gate.models import GateRun
from tests.factories import PASSWORD
from tests.gate.seed import add_evaluator, add_gating_pair, outputs


def lines(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def post_lines(client, run_id, body: bytes, key):
    return client.post(f"/api/v1/gate-runs/{run_id}/outputs", content=body,
                       headers={**key, "Content-Type": "application/x-ndjson"})


def test_a_file_run_receives_chunks_then_starts_once(client, key, db):
    db.commit()
    created = client.post("/api/v1/gate-runs", json={"release": "v2", "source": "file"}, headers=key)
    assert created.status_code == 201, created.text
    run = created.json()
    assert run["status"] == "receiving" and run["baseline"] == {"kind": "production", "days": 7}
    assert run["trigger"].startswith("API key ")
    assert run["thresholds"] == {"max_increase": 0.02, "min_sample": 100, "gate_min_mcc": 0.4}

    bad = post_lines(client, run["id"], b'{"id": 1, "output": "a"}\n[1]\n{"output": "no id"}\n{oops\n', key)
    assert bad.status_code == 422
    assert [p["line"] for p in bad.json()["error"]["details"]["lines"]] == [2, 3, 4]
    assert client.post(f"/api/v1/gate-runs/{run['id']}/start", headers=key).status_code == 422  # still empty

    assert post_lines(client, run["id"], lines(outputs("a", 3, 0, 0)), key).json() == {"received": 3, "total": 3}
    assert post_lines(client, run["id"], lines(outputs("b", 2, 0, 0)), key).json() == {"received": 2, "total": 5}
    stored = db.execute(text("SELECT seq FROM gate_output WHERE gate_run_id = :r ORDER BY seq"), {"r": run["id"]})
    assert [seq for (seq,) in stored] == [1, 2, 3, 4, 5]
    started = client.post(f"/api/v1/gate-runs/{run['id']}/start", headers=key)
    assert started.status_code == 202 and started.json()["status"] == "queued"
    assert client.post(f"/api/v1/gate-runs/{run['id']}/start", headers=key).status_code == 409
    assert post_lines(client, run["id"], lines(outputs("c", 1, 0, 0)), key).status_code == 409


def test_bad_requests_and_other_projects(client, key, factory, db):
    other = {"Authorization": f"Bearer {factory.api_key(factory.project())}"}
    db.commit()  # a refused request rolls back its own work only
    assert client.post("/api/v1/gate-runs", json={"release": "v2", "source": "file",
                                                  "baseline": {"kind": "release"}}, headers=key).status_code == 422
    assert client.post("/api/v1/gate-runs", json={"release": "v2", "source": "file",
                                                  "traces_filter": {"environment": "x"}}, headers=key).status_code == 422
    assert client.post("/api/v1/gate-runs", json={"release": "v2", "source": "traces",
                                                  "traces_filter": {"status": "maybe"}}, headers=key).status_code == 422
    run = client.post("/api/v1/gate-runs", json={"release": "v2", "source": "file"}, headers=key).json()
    assert client.get(f"/api/v1/gate-runs/{run['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/gate-runs", headers=other).json() == []
    assert client.put("/api/v1/gate-settings", json={"max_increase": 0.05, "min_sample": 10},
                      headers=key).status_code == 403  # API keys annotate; thresholds are for admins


def test_admins_set_thresholds_and_new_runs_carry_them(client, factory, project, key, db):
    client.login(factory.user("admin").email, PASSWORD)
    db.commit()
    saved = client.form(f"/projects/{project.id}/gate-settings", {"max_increase_points": "5", "min_sample": "40"},
                        htmx=False, follow_redirects=False)
    assert saved.status_code == 303
    assert client.get(f"/api/v1/gate-settings?project_id={project.id}").json()["max_increase"] == pytest.approx(0.05)
    run = client.post("/api/v1/gate-runs", json={"release": "v9", "source": "file"}, headers=key).json()
    assert run["thresholds"]["min_sample"] == 40
    page = client.get(f"/projects/{project.id}/gate-runs")
    assert page.status_code == 200 and "v9" in page.text and 'value="5.0"' in page.text


def test_the_worker_body_counts_verdicts_and_leaves_out_each_kind_of_unfit_evaluator(db, project, monkeypatch):
    ids = add_gating_pair(db, project.id)
    add_evaluator(db, project.id, "Chance", "x", mcc=0.6, ci=(0.5, 0.7), tpr=0.5, tnr=0.4,
                  confusion={"tp": 50, "fn": 50, "tn": 40, "fp": 60})
    add_evaluator(db, project.id, "Interval at zero", "w", mcc=0.2, ci=(-0.05, 0.45), tpr=0.7, tnr=0.6,
                  confusion={"tp": 35, "fn": 15, "tn": 30, "fp": 20})
    add_evaluator(db, project.id, "Few labels", "y", mcc=0.9, ci=(0.8, 1.0), tpr=1.0, tnr=1.0,
                  confusion={"tp": 4, "fn": 0, "tn": 30, "fp": 0})
    _, drifting = add_evaluator(db, project.id, "Drifting", "z", mcc=0.9, ci=(0.8, 1.0), tpr=0.95, tnr=0.95,
                                confusion={"tp": 50, "fn": 3, "tn": 50, "fp": 3})
    drifting.drift = {"status": "drift", "mcc_at_generation": 0.9, "mcc_now": 0.5}
    run = GateRun(project_id=project.id, release="v2", source="file", baseline={"kind": "production", "days": 7},
                  thresholds={"max_increase": 0.02, "min_sample": 1, "gate_min_mcc": 0.4}, status="receiving")
    db.add(run)
    db.flush()
    service.add_outputs(db, run, outputs("c", 7, 3 / 7, 0))
    service.start(db, run)
    db.commit()
    monkeypatch.setenv("SEXTANT_GATE_BATCH", "3")
    clear_caches()
    assert tasks.run(jobs.joined(db), run.id) is False
    db.refresh(run)
    assert run.status == "done" and run.done == 7
    assert run.report["counts"] == {str(run.report["evaluators"][0]["version_id"]): [3, 7, 0]}
    reasons = {e["issue"]: e["reason"] for e in run.report["excluded"]}
    assert reasons["Over-apologising"].startswith("MCC CI lower bound 0.20 below")
    assert reasons["Chance"] == "no better than chance: TPR 0.50 + TNR 0.40 ≤ 1"
    assert reasons["Interval at zero"] == "no better than chance: its 95% interval (-0.05 to 0.45) includes 0"
    assert reasons["Few labels"].startswith("too few labels: TPR/TNR measured on 4 failures")
    assert reasons["Drifting"].startswith("drift: MCC fell from 0.90 to 0.50")
    # No production baseline at all: the one fit issue cannot decide, so the run says error.
    [row] = run.report["issues"]
    assert row["issue_id"] == ids["refund_issue"] and row["decision"] == "undecided"
    assert run.verdict == "error" and "baseline 0" in run.error
