"""`sextant evals fit` / `sextant evals apply`, run as a user would, in a subprocess."""

import json
import subprocess
import sys

from tests.evals.synthetic import synthetic_traces


def sextant(*args, cwd):
    return subprocess.run([sys.executable, "-m", "app.cli", "evals", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_fit_prints_its_figures_and_apply_writes_verdicts(tmp_path, repo_root):
    examples = tmp_path / "labelled.jsonl"
    write_jsonl(examples, synthetic_traces(120, seed=3))
    evaluator = tmp_path / "evaluator.json"
    fitted = sextant("fit", "--examples", str(examples), "--out", str(evaluator), cwd=repo_root)
    assert fitted.returncode == 0, fitted.stderr
    summary = json.loads(fitted.stdout)
    stored = json.loads(evaluator.read_text())
    assert stored["metrics"]["mcc"] == summary["mcc"]
    assert set(stored["metrics"]) == {"mcc", "mcc_ci", "tpr", "tnr", "n", "measured_by"}
    low, high = stored["metrics"]["mcc_ci"]
    assert low <= stored["metrics"]["mcc"] <= high

    traces = tmp_path / "traces.jsonl"
    write_jsonl(traces, [{k: v for k, v in row.items() if k != "label"} for row in synthetic_traces(30, seed=9)])
    verdicts = tmp_path / "verdicts.jsonl"
    applied = sextant("apply", "--evaluator", str(evaluator), "--input", str(traces), "--output", str(verdicts),
                      cwd=repo_root)
    assert applied.returncode == 0, applied.stderr
    lines = [json.loads(line) for line in verdicts.read_text().splitlines()]
    assert len(lines) == 30
    assert all(set(line) == {"id", "verdict", "score", "explanation"} for line in lines)
    assert {line["verdict"] for line in lines} <= {"pass", "fail"}


def test_bad_input_is_reported_without_a_traceback(tmp_path, repo_root):
    examples = tmp_path / "bad.jsonl"
    examples.write_text('{"id": 1, "label": "maybe"}\n')
    result = sextant("fit", "--examples", str(examples), "--out", str(tmp_path / "x.json"), cwd=repo_root)
    assert result.returncode != 0
    assert "bad.jsonl:1" in result.stderr and "Traceback" not in result.stderr
    few = tmp_path / "few.jsonl"
    write_jsonl(few, synthetic_traces(6, seed=1))
    result = sextant("fit", "--examples", str(few), "--out", str(tmp_path / "y.json"), cwd=repo_root)
    assert result.returncode != 0 and "needs" in result.stderr
    assert not (tmp_path / "y.json").exists()


def test_fit_exits_3_for_an_evaluator_no_better_than_chance_unless_allowed(tmp_path, repo_root):
    from tests.evals.synthetic import random_labels

    examples = tmp_path / "random.jsonl"
    write_jsonl(examples, random_labels(synthetic_traces(80, seed=5), seed=5))
    evaluator = tmp_path / "weak.json"
    refused = sextant("fit", "--examples", str(examples), "--out", str(evaluator), cwd=repo_root)
    assert refused.returncode == 3, refused.stderr
    summary = json.loads(refused.stdout)
    assert summary["status"] == "no_better_than_chance" and summary["evaluator"] is None
    assert "includes 0" in summary["no_better_than_chance"] or "undefined" in summary["no_better_than_chance"]
    assert "no better than chance" in refused.stderr and "--allow-weak" in refused.stderr
    assert not evaluator.exists()
    allowed = sextant("fit", "--examples", str(examples), "--out", str(evaluator), "--allow-weak", cwd=repo_root)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(evaluator.read_text())["metrics"]["mcc_ci"] == summary["mcc_ci"]
