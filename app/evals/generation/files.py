"""File helpers behind `sextant evals fit` and `sextant evals apply` (same code path as the worker).

Input lines: {"id", "input", "output", "label"?, "feedback"?, "group"?, "metadata"?, "messages"?, ...}
Output lines of apply: {"id", "verdict": "pass" | "fail", "score", "explanation"}
The evaluator file is the spec plus "metrics": {"mcc", "mcc_ci": [low, high], "tpr", "tnr", "n", "measured_by"}
("cv": the cross-validation estimate of the generation procedure on all n examples; "holdout": on n
held-out examples) and a "generation" block (sizes, CV figure, notes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from .chance import chance_reason
from .examples import Example
from .pipeline import Budget, InsufficientData, generate
from .spec import compile_spec, describe_spec

APPLY_BATCH = 2000


class InputError(ValueError):
    """A line of an input file that is not a usable example."""


def read_examples(path: str | Path) -> list[Example]:
    return [example for batch in _batches(path, batch_size=10**9) for example in batch]


def _batches(path: str | Path, batch_size: int = APPLY_BATCH) -> Iterator[list[Example]]:
    batch: list[Example] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                batch.append(Example.from_dict(json.loads(line)))
            except (ValueError, TypeError) as error:
                raise InputError(f"{path}:{number}: {error}") from None
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def fit_file(examples_jsonl_path: str | Path, out_json_path: str | Path, *, allow_weak: bool = False,
             **options: Any) -> dict[str, Any]:
    """Generate an evaluator from a labelled JSONL file and write it; returns a printable summary.

    Options are those of `generate` (issue_title, issue_description, seed, llm, budget).
    Nothing is written when there is too little data, nor, unless `allow_weak`, when the
    evaluator is no better than chance (status "no_better_than_chance", with the reason).
    """
    examples = read_examples(examples_jsonl_path)
    if isinstance(options.get("budget"), dict):
        options["budget"] = Budget(**options["budget"])
    result = generate(examples, **options)
    if isinstance(result, InsufficientData):
        return {"status": "insufficient_data", "message": result.message, **result.to_dict()}
    m = result.metrics
    weak = chance_reason(m)
    document = {
        **result.spec,
        "metrics": {"mcc": m["mcc"], "mcc_ci": m["mcc_ci"], "tpr": m["tpr"], "tnr": m["tnr"], "n": m["n"],
                    "measured_by": m["measured_by"]},
        "generation": {
            "figures": m,
            "cv": result.cv,
            "sizes": result.sizes,
            "refit_on_all": result.refit_on_all,
            "notes": result.notes,
            "seed": result.seed,
        },
    }
    written = allow_weak or not weak
    if written:
        Path(out_json_path).write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    return {
        "status": "no_better_than_chance" if weak else "ok",
        "no_better_than_chance": weak,
        "text": _summary_line(result),
        "evaluator": str(out_json_path) if written else None,
        "family": result.spec["family"],
        "chosen": result.cv.get("chosen"),
        "mcc": m["mcc"],
        "mcc_undefined_reason": m["mcc_undefined_reason"],
        "mcc_ci": m["mcc_ci"],
        "tpr": m["tpr"],
        "tnr": m["tnr"],
        "precision": m["precision"],
        "confusion": m["confusion"],
        "n": m["n"],
        "measured_by": m["measured_by"],
        "cv_mcc": result.cv.get("mcc"),
        "refit_on_all": result.refit_on_all,
        "sizes": result.sizes,
        "spec": result.spec,
        "notes": result.notes,
    }


def load_spec(evaluator_json_path: str | Path) -> dict[str, Any]:
    document = json.loads(Path(evaluator_json_path).read_text(encoding="utf-8"))
    # The figures and generation details travel with the spec but are not part of it.
    return {k: v for k, v in document.items() if k not in ("metrics", "generation")}


def apply_file(
    evaluator_json_path: str | Path, input_jsonl_path: str | Path, output_jsonl_path: str | Path, *, llm: Any = None
) -> int:
    """Run an evaluator file over a JSONL of traces, in batches; returns how many verdicts were written."""
    evaluator = compile_spec(load_spec(evaluator_json_path), llm=llm)
    written = 0
    with open(output_jsonl_path, "w", encoding="utf-8") as out:
        for batch in _batches(input_jsonl_path):
            for example, verdict in zip(batch, evaluator.evaluate(batch)):
                out.write(json.dumps({"id": example.id, **verdict.as_dict()}, ensure_ascii=False) + "\n")
                written += 1
    return written


def _figure(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def _summary_line(result) -> str:
    m = result.metrics
    low, high = m["mcc_ci"]
    mcc_text = f"undefined ({m['mcc_undefined_reason']})" if m["mcc"] is None else f"{m['mcc']:.3f}"
    interval = f" [95% CI {_figure(low)}, {_figure(high)}]" if low is not None else ""
    refit = (
        f"refit on all {result.sizes['n_refit']} examples" if result.refit_on_all
        else f"fitted on the {result.sizes['n_train']} training examples"
    )
    measured = ("cross-validated estimate of the whole generation procedure" if m["measured_by"] == "cv"
                else "held-out")
    return (
        f"{measured}: MCC {mcc_text}{interval} on {m['n']} examples in {m['n_groups']} groups "
        f"(TPR {_figure(m['tpr'])}, TNR {_figure(m['tnr'])}, precision {_figure(m['precision'])}); "
        f"evaluator: {describe_spec(result.spec)}; {refit}"
    )
