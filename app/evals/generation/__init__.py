"""Evaluator generation: pure algorithms, no database, no web framework, no Celery.

Turns labelled examples of one failure mode (positives = traces people failed
for it; negatives = passing traces, then traces failed for other issues) into
an evaluator spec, and says honestly how well it agrees with people.

Public API
----------
generate(examples, *, issue_title="", issue_description="", seed=0, llm=None, budget=None)
    -> GenerationResult | InsufficientData
    `examples`: Example objects or dicts {"id", "input", "output", "label": "pass"|"fail",
    "feedback"?, "group"?, "metadata"?, "messages"?, "system"?, "spans"?}. Fewer than 8 of
    either label -> InsufficientData ("needs N more positives / M more negatives").
    Holds out ~30% (stratified, grouped by `group`), searches candidates by repeated grouped
    CV on the rest, scores the winner once on the held-out split, then refits it on all
    examples. `llm` (LLMConfig or LLMClient) enables the LLM judge family. Same input and
    seed -> same spec.
    GenerationResult: spec (to use), metrics (held-out: mcc, mcc_undefined_reason, mcc_ci,
    tpr, tnr, precision, confusion, n), cv, leaderboard, sizes, refit_on_all, notes,
    holdout_spec (what the held-out figures were measured on).
compile_spec(spec, *, llm=None) -> Evaluator
    evaluator.evaluate(traces) -> list[Verdict(verdict "pass"|"fail", score, explanation)]
    evaluator.predict(examples) -> (fail flags, scores) — the batch fast path.
score_spec(spec, examples, *, llm=None, seed=0) -> metrics dict (same shape as above);
    hand-written specs are scored exactly like generated ones.
mcc(confusion) -> (value | None, reason | None)
mcc_interval(actual_fail, predicted_fail, *, groups=None, level=0.95, seed=0) -> (low, high)
    posterior of the confusion matrix, groups resampled whole, weak prior: never a point
    from an empty cell; (None, None) only without rows.
chance_reason(metrics) -> str | None: why an evaluator is no better than chance (its MCC is
    undefined, or its interval reaches 0), None when it is better.
rogan_gladen(observed_rate, n, tpr, tnr, *, level=0.95, labelled_fail=None, labelled_pass=None)
    -> {"estimate", "ci", "reason", "ci_method"}; with the label counts the CI carries TPR/TNR uncertainty.
fit_file(examples_jsonl_path, out_json_path, **generate_options) -> printable summary dict
calls_llm(spec) -> whether running it calls an LLM (such specs are scored in the worker).
describe_spec(spec) -> one readable line ("fail if output contains 'refund within 0 days'").
apply_file(evaluator_json_path, input_jsonl_path, output_jsonl_path, *, llm=None) -> lines written

Spec format (plain JSON, never pickle): {"format": "sextant.evaluator", "version": 1,
"family": "rule" | "structure" | "classifier" | "judge" | "combine", ...}; the fields of
each family are documented in rules.py, structure.py, classifier.py, judge.py and
spec.py (combine: {"op": "any"|"all", "parts": [spec, ...]}).
"""

import importlib

# Where each public name lives. Names load on first use (PEP 562), so a process
# that never generates or runs an evaluator (the web server, mostly) does not
# carry numpy, scipy and scikit-learn: ~200 MB of memory per process.
_EXPORTS = {
    "Example": "examples", "TraceView": "examples",
    "apply_file": "files", "fit_file": "files",
    "Budget": "pipeline", "GenerationResult": "pipeline", "InsufficientData": "pipeline",
    "MIN_PER_LABEL": "examples", "generate": "pipeline", "score_spec": "pipeline",
    "LLMClient": "llm", "LLMConfig": "llm", "LLMError": "llm", "MemoryCache": "llm",
    "Confusion": "metrics", "binary_metrics": "metrics", "mcc_interval": "metrics", "mcc": "metrics",
    "chance_reason": "chance",
    "rogan_gladen": "metrics",
    "Evaluator": "spec", "SpecError": "spec", "Verdict": "spec", "compile_spec": "spec",
    "describe_spec": "spec", "envelope": "spec", "calls_llm": "spec",
}
# A trace view and a labelled example are the same shape.
_ALIASES = {"TraceView": "Example"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), _ALIASES.get(name, name))
    globals()[name] = value
    return value
