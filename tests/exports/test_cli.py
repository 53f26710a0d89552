"""`sextant export`, run as a user would, in a subprocess against a live server's database."""

import json
import subprocess
import sys

import httpx

from tests.exports.test_exports import BATCH


def sextant(live, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=120,
                          env=live.env)


def test_the_cli_writes_the_same_rows_as_the_api(live, tmp_path):
    assert sextant(live, "project", "create", "shop").returncode == 0
    key = sextant(live, "api-key", "create", "--project", "shop").stdout.splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.post(f"{live.url}/api/v1/traces", json=BATCH, headers=headers).status_code == 200

    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"spans.{fmt}"
        done = sextant(live, "export", "spans", "--project", "shop", "--format", fmt, "--out", str(out))
        assert done.returncode == 0, done.stderr
        served = httpx.get(f"{live.url}/api/v1/exports/spans?format={fmt}", headers=headers)
        assert out.read_bytes() == served.content
    to_stdout = sextant(live, "export", "traces", "--project", "shop", "--filter", "release=v2")
    assert [json.loads(line)["id"] for line in to_stdout.stdout.splitlines()] == ["order-1"]
    exports = live.sql("SELECT actor, target FROM audit_event WHERE action = 'export.requested' ORDER BY id")
    assert [target for _, target in exports] == ["export:spans"] * 4 + ["export:traces"]
    assert [actor == "cli" for actor, _ in exports] == [True, False, True, False, True]


def test_the_cli_refuses_unknown_projects_and_filters(live):
    assert sextant(live, "project", "create", "shop").returncode == 0
    missing = sextant(live, "export", "traces", "--project", "nope")
    assert missing.returncode != 0 and "Error:" in missing.stderr
    bad = sextant(live, "export", "traces", "--project", "shop", "--filter", "status=maybe")
    assert bad.returncode != 0 and "status" in bad.stderr
