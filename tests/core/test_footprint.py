"""The web process does not load numpy, scipy or scikit-learn (~110 MB): they load only
where evaluators are generated or run, or failures clustered (the worker, the CLI)."""

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from tests.e2e.test_evaluator_loop import seed, signed_in, traces

NUMERICAL = ("numpy", "scipy", "sklearn")


def test_the_web_app_does_not_load_the_numerical_stack(repo_root):
    code = ("import sys; from app.main import create_app; create_app(); "
            f"print(sorted(m for m in {NUMERICAL!r} if m in sys.modules))")
    env = {"SEXTANT_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
           "SEXTANT_REDIS_URL": "redis://127.0.0.1:1/0", "SEXTANT_SECRET_KEY": "x", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo_root, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def numerical_libraries_mapped(pid: int) -> list[str]:
    """What the process has loaded, read from its memory map (their compiled modules)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return sorted(name for name in NUMERICAL if f"/site-packages/{name}/" in maps)


def test_every_page_is_served_without_the_numerical_stack(live):
    """Pages of a project with traces, labels and an issue without an evaluator yet (the
    evaluator list then says how many labels it needs). Not covered yet: an evaluator's
    estimated failure rate (Rogan–Gladen draws, numpy) is still computed in the request."""
    email, project_id, key = seed(live)
    api = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    batch = traces("bad", 3, True, datetime.now(timezone.utc) - timedelta(hours=2))
    batch += traces("good", 3, False, datetime.now(timezone.utc) - timedelta(hours=1))
    assert api.post("/api/v1/traces", json={"traces": batch}).status_code == 200
    for trace in batch:
        failing = trace["id"].startswith("bad")
        assert api.post("/api/v1/annotations", json={
            "trace_external_id": trace["id"], "verdict": "fail" if failing else "pass",
            "feedback": "promises a refund window" if failing else "",
            "issues": ["Invented refund window"] if failing else [], "annotator": "qa"}).status_code == 201
    [(issue_id,)] = live.sql("SELECT id FROM issue")
    [(trace_id,)] = live.sql("SELECT min(id) FROM trace")
    project = f"/projects/{project_id}"
    pages = ["/account", "/dashboard", "/settings/members", "/settings/projects", f"{project}/dashboard",
             f"{project}/traces", f"{project}/traces/{trace_id}", f"{project}/issues",
             f"{project}/issues/{issue_id}", f"{project}/notifications", f"{project}/queues",
             f"{project}/settings", f"{project}/webhooks", f"{project}/gate-runs", f"{project}/evaluators",
             f"{project}/evaluators/new"]
    admin = signed_in(live.url, email)
    for page in pages:
        response = admin.get(page)
        assert response.status_code == 200, page
        assert numerical_libraries_mapped(live.process.pid) == [], page
    # MIN_PER_LABEL (8) less the 3 failures and the 3 passes labelled above
    assert "Needs 5 more failed examples of this issue and 5 more passing examples." in admin.get(f"{project}/evaluators").text
