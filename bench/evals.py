"""Evaluator generation benchmarks: run by hand, prints figures (not a test).

    .venv/bin/python -m bench.evals                # everything (~15 min on 2 busy cores)
    .venv/bin/python -m bench.evals --only speed   # generation time, application throughput
    .venv/bin/python -m bench.evals --only data --seeds 3

Figures:
- generation time on 1,000 labelled synthetic traces (median over seeds), n_jobs=1;
- rule and classifier application throughput on 5,000 traces (median of runs);
- every shared data set (tau-bench airline grouped by task, TofuEval): grouped
  60/40 splits; the evaluator generated on 60% with the figure and interval it
  shows, its MCC on the unseen 40%, beside the plain reference (TF-IDF over input
  and output, word 1-2-grams, min_df=2, sublinear tf, class-balanced logistic
  regression) fitted on the very same 60%.
Results are also written to bench/out/evals.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from app.evals.generation import compile_spec, generate, mcc
from app.evals.generation.classifier import fit_classifier
from app.evals.generation.examples import as_examples
from app.evals.generation.metrics import Confusion
from app.evals.generation.splits import holdout_split
from app.evals.generation.workspace import Workspace, view_texts
from tests.evals.shared_sets import tau_bench_airline, tofueval
from tests.evals.synthetic import synthetic_traces

OUT = Path(__file__).resolve().parent / "out"


def _median_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_generation(seeds: int) -> dict:
    data = synthetic_traces(1000, seed=42)
    times, figures = [], []
    for seed in range(seeds):
        started = time.perf_counter()
        result = generate(data, seed=seed)
        times.append(time.perf_counter() - started)
        figures.append((result.metrics["mcc"], result.cv["chosen"]))
    print(f"generation on 1,000 labelled traces: median {statistics.median(times):.1f} s "
          f"(runs: {', '.join(f'{t:.1f}' for t in times)}; target < 60 s)")
    for mcc_value, chosen in figures:
        print(f"    held-out MCC {mcc_value:.3f} with {chosen}")
    return {"generation_seconds": times, "generation_median_s": statistics.median(times)}


def bench_throughput(repeats: int) -> dict:
    train = as_examples(synthetic_traces(1000, seed=1))
    batch = as_examples(synthetic_traces(5000, seed=2))
    ws = Workspace(train)
    rows = np.arange(len(train))
    specs = {
        "rule (3 phrases, output)": {"family": "rule", "combine": "any", "clauses": [
            {"field": "output", "kind": "phrase", "pattern": p} for p in ("refund within 0 days", "waive every fee", "i promise")]},
        "structure (2 conditions)": {"family": "structure", "combine": "any", "conditions": [
            {"feature": "n_span_errors", "op": ">=", "value": 1}, {"feature": "output_chars", "op": ">=", "value": 3000}]},
        "classifier (view full)": fit_classifier(ws, rows, view="full", C=1.0),
        "classifier (view full + structure)": fit_classifier(ws, rows, view="full", C=1.0, with_structure=True),
    }
    average_chars = statistics.mean(len(e.output) + len(e.input) for e in batch)
    print(f"application on 5,000 traces (~{average_chars:.0f} chars of input+output each; median of {repeats}):")
    figures = {}
    for name, spec in specs.items():
        evaluator = compile_spec(spec)
        predict = len(batch) / _median_time(lambda: evaluator.predict(batch), repeats)
        explain = len(batch) / _median_time(lambda: evaluator.evaluate(batch), repeats)
        figures[name] = {"predict_per_s": predict, "evaluate_per_s": explain}
        print(f"    {name:38s} {predict:9,.0f} traces/s verdicts only, {explain:9,.0f} traces/s with explanations")
    predict_baseline = baseline(train)
    reference = len(batch) / _median_time(lambda: predict_baseline(batch), repeats)
    figures["reference: scikit-learn TfidfVectorizer + LR"] = {"predict_per_s": reference}
    print(f"    {'reference: scikit-learn TF-IDF + LR':38s} {reference:9,.0f} traces/s verdicts only "
          f"(the baseline below; classifier ratio "
          f"{figures['classifier (view full)']['predict_per_s'] / reference:.2f})")
    return figures


def baseline(train, seed: int = 0):
    """The README's baseline, fitted on `train`: TF-IDF word 1-2 + char_wb 3-5 n-grams -> balanced
    logistic regression, threshold 0.5. Returns its predict function (examples -> fail?)."""
    words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50000)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True, max_features=50000)
    texts = view_texts(train, "full")
    model = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed)
    model.fit(hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr(), [e.is_fail for e in train])

    def predict(examples) -> np.ndarray:
        texts = view_texts(examples, "full")
        return model.predict(hstack([words.transform(texts), chars.transform(texts)]).tocsr()).astype(bool)

    return predict


DATA_SETS = {"tau-bench airline": tau_bench_airline, "TofuEval": tofueval}


def reference(train, seed: int = 0):
    """The issue's plain reference, fitted on `train`: TF-IDF over input and output (word 1-2-grams,
    min_df=2, sublinear tf) and a class-balanced logistic regression. Returns examples -> fail?"""
    vectoriser = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    model = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed)
    model.fit(vectoriser.fit_transform(view_texts(train, "input_output")), [e.is_fail for e in train])
    return lambda examples: model.predict(vectoriser.transform(view_texts(examples, "input_output"))).astype(bool)


def reference_out_of_fold(data: list[dict], seed: int = 0, n_splits: int = 5):
    """(actual, predicted, groups): every example predicted by the reference fitted without its group."""
    from app.evals.generation.splits import cv_folds

    examples = as_examples(data)
    actual = np.array([e.is_fail for e in examples])
    groups = np.array([e.group_key for e in examples])
    predicted = np.zeros(len(examples), dtype=bool)
    for fold in cv_folds(actual, groups, n_splits=n_splits, n_repeats=1, seed=seed):
        predicted[fold.test] = reference([examples[i] for i in fold.train], seed)([examples[i] for i in fold.test])
    return actual, predicted, groups


def bench_dataset(name: str, data: list[dict], seeds: int) -> dict:
    """Grouped 60/40 splits: the evaluator generated on 60%, scored on the unseen 40%, beside the plain
    reference fitted on the very same 60%; and whether the interval printed covered the unseen figure."""
    examples = as_examples(data)
    actual = np.array([e.is_fail for e in examples])
    groups = [e.group_key for e in examples]
    rows = []
    print(f"\n{name}: {len(examples)} examples, {actual.sum()} fail, {len(set(groups))} groups; grouped 60/40 splits")
    print("    seed  shown MCC [95% interval]       unseen MCC  reference  time   chosen")
    for seed in range(seeds):
        fit_rows, unseen_rows = holdout_split(actual, groups, fraction=0.4, seed=seed)
        fit_side, unseen = [examples[i] for i in fit_rows], [examples[i] for i in unseen_rows]
        started = time.perf_counter()
        result = generate(fit_side, seed=seed)
        elapsed = time.perf_counter() - started
        unseen_actual = actual[unseen_rows]
        predicted, _ = compile_spec(result.spec).predict(unseen)
        held = mcc(Confusion.of(unseen_actual, predicted))[0]
        base = mcc(Confusion.of(unseen_actual, reference(fit_side, seed)(unseen)))[0]
        m = result.metrics
        row = {"seed": seed, "mcc": held, "shown": m["mcc"], "ci": m["mcc_ci"], "cv": result.cv["mcc"],
               "cv_winner": result.cv["search_mcc"], "baseline": base, "seconds": elapsed, "chosen": result.cv["chosen"]}
        rows.append(row)
        print(f"    {seed:4d}  {_f(m['mcc'])} [{_f(m['mcc_ci'][0])}, {_f(m['mcc_ci'][1])}]   {_f(held):>9s}  "
              f"{_f(base):>9s}  {elapsed:4.0f}s  {row['chosen']}", flush=True)
    summary = _summarise(rows)
    print(f"    mean unseen MCC {summary['mean_mcc']:.3f} (sd {summary['sd_mcc']:.3f}) over {seeds} splits; "
          f"reference on the same splits {summary['mean_baseline']:.3f}; "
          f"difference {summary['mean_mcc'] - summary['mean_baseline']:+.3f}")
    print(f"    the interval shown contained the unseen MCC in {summary['cv_in_ci']}/{seeds} "
          f"(a sample figure on 40% carries its own noise: see bench/coverage.py (c))")
    return {"rows": rows, "summary": summary}


def _summarise(rows: list[dict]) -> dict:
    held = np.array([r["mcc"] if r["mcc"] is not None else 0.0 for r in rows])
    cv = np.array([r["cv"] if r["cv"] is not None else 0.0 for r in rows])
    winner = np.array([r["cv_winner"] if r["cv_winner"] is not None else 0.0 for r in rows])
    base = np.array([r["baseline"] if r["baseline"] is not None else 0.0 for r in rows])
    inside = sum(1 for r in rows if r["ci"][0] is not None and r["mcc"] is not None and r["ci"][0] <= r["mcc"] <= r["ci"][1])
    return {
        "mean_mcc": float(held.mean()), "sd_mcc": float(held.std(ddof=1)) if len(held) > 1 else 0.0,
        "mean_baseline": float(base.mean()), "mean_cv": float(cv.mean()), "mean_cv_winner": float(winner.mean()),
        "mean_abs_gap": float(np.abs(cv - held).mean()), "mean_gap": float((cv - held).mean()), "cv_in_ci": inside,
    }


def _f(value) -> str:
    return "  n/a" if value is None else f"{value:+.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("speed", "data"), default=None)
    parser.add_argument("--seeds", type=int, default=10, help="random splits per data set")
    parser.add_argument("--speed-seeds", type=int, default=3, help="generation runs for the timing median")
    args = parser.parse_args()
    report = {}
    if args.only in (None, "speed"):
        report["generation"] = bench_generation(args.speed_seeds)
        report["throughput"] = bench_throughput(repeats=3)
    if args.only in (None, "data"):
        for name, load in DATA_SETS.items():
            report[name] = bench_dataset(name, load(), args.seeds)
    OUT.mkdir(exist_ok=True)
    (OUT / "evals.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
