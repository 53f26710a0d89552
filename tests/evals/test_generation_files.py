import json

import pytest

from app.evals.generation import apply_file, fit_file
from app.evals.generation.files import InputError
from tests.evals.synthetic import synthetic_traces

QUICK = {"n_splits": 3, "n_repeats": 1, "generations": 1}


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_fit_then_apply_round_trip(tmp_path):
    labelled, evaluator, traces, verdicts = (tmp_path / n for n in ("l.jsonl", "e.json", "t.jsonl", "v.jsonl"))
    rows = synthetic_traces(100, seed=11)
    _write_jsonl(labelled, rows)
    summary = fit_file(labelled, evaluator, seed=0, budget=QUICK)
    assert summary["status"] == "ok" and summary["refit_on_all"]
    assert summary["text"].startswith("cross-validated estimate of the whole generation procedure: MCC ")
    assert "on 100 examples in" in summary["text"] and "refit on all 100 examples" in summary["text"]
    document = json.loads(evaluator.read_text())
    metrics = document["metrics"]
    assert set(metrics) == {"mcc", "mcc_ci", "tpr", "tnr", "n", "measured_by"}
    assert metrics["n"] == summary["n"] == 100 and metrics["mcc"] == summary["mcc"]
    assert document["format"] == "sextant.evaluator" and document["family"] == summary["family"]

    unlabelled = [{k: v for k, v in r.items() if k != "label"} for r in synthetic_traces(50, seed=12)]
    _write_jsonl(traces, unlabelled)
    assert apply_file(evaluator, traces, verdicts) == 50
    lines = [json.loads(line) for line in verdicts.read_text().splitlines()]
    assert [line["id"] for line in lines] == [r["id"] for r in unlabelled]
    assert all(set(line) == {"id", "verdict", "score", "explanation"} for line in lines)
    assert {line["verdict"] for line in lines} == {"pass", "fail"}


def test_fit_file_with_too_little_data_writes_nothing(tmp_path):
    labelled, evaluator = tmp_path / "l.jsonl", tmp_path / "e.json"
    _write_jsonl(labelled, [r for r in synthetic_traces(30, seed=1) if r["label"] == "pass"][:10])
    summary = fit_file(labelled, evaluator)
    assert summary["status"] == "insufficient_data" and "8 more positives" in summary["message"]
    assert not evaluator.exists()


def test_bad_input_line_names_file_and_line(tmp_path):
    labelled = tmp_path / "l.jsonl"
    labelled.write_text('{"id": "a", "label": "pass"}\n{"id": "b", "label": "maybe"}\n')
    with pytest.raises(InputError, match=r"l.jsonl:2"):
        fit_file(labelled, tmp_path / "e.json")
