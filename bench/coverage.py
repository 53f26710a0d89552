"""Do Sextant's 95% MCC intervals cover what they promise?  Run by hand (not a test).

    .venv/bin/python -m bench.coverage                 # everything (a few minutes)
    .venv/bin/python -m bench.coverage --trials 100    # quicker
    .venv/bin/python -m bench.coverage --only synthetic|data|procedure

(a) synthetic: populations with a known true MCC. Every regime is a size (40 to
    5,000 rows), a base rate of failures (5%, 20%, 50%) and a grouping (every row
    its own group, or groups of 1-8 rows that share their label and the
    evaluator's error with probability 0.7). Each trial draws an evaluator
    (TPR and TNR from weak to near perfect), a sample, and the interval; it
    covers when it contains the population MCC. The oracle interval is the
    central 95% of the sample MCC over 2,000 samples of the same population
    (known only to the simulation): the width ratio says what the interval
    pays for not knowing the truth.
(b) data: the shared data sets as populations. A fixed evaluator (the reference
    TF-IDF + logistic regression, predicting each row out of fold) has a known
    MCC on the whole set; trials draw whole groups with replacement (as many
    groups as a 40% hold-out has) and compute the interval on them.
(c) procedure: what `sextant evals fit` prints, end to end: grouped 60/40 splits,
    the evaluator generated on the 60% side with its figure and interval, and
    its MCC on the unseen 40%. Two sample figures differ by the noise of both,
    so the check is that the two agree within their joint uncertainty (0 inside
    the 95% interval of the difference of the two posteriors); how often the
    printed interval alone contains the unseen figure is shown beside it.

Target: coverage >= 93% in every regime of (a) and (b), width <= ~1.3x the oracle's.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from app.evals.generation.metrics import (
    INTERVAL_DRAWS, PRIOR_PER_CELL, _vector_mcc, group_cells, mcc_interval, posterior_cells,
)

SIZES = (40, 200, 1000, 5000)
BASE_RATES = (0.05, 0.2, 0.5)
GROUPINGS = ("1 row", "1-8 rows")
# (TPR, TNR) of the evaluators drawn: weak, fair, good, near perfect.
QUALITIES = ((0.6, 0.6), (0.7, 0.85), (0.85, 0.9), (0.97, 0.99))
SHARED = 0.7  # chance that a row shares its group's label and error draw


@dataclass(frozen=True)
class Population:
    base_rate: float
    tpr: float
    tnr: float
    grouped: bool

    @property
    def true_mcc(self) -> float:
        p = self.base_rate
        cells = np.array([p * self.tpr, (1 - p) * (1 - self.tnr), p * (1 - self.tpr), (1 - p) * self.tnr])
        return float(_vector_mcc(*cells[:, None])[0])

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(actual, predicted, groups) of n rows. Marginally every row has the population's
        base rate, TPR and TNR; within a group labels and errors are correlated."""
        if self.grouped:
            sizes = rng.integers(1, 9, size=n)
            groups = np.repeat(np.arange(n), sizes)[:n]
        else:
            groups = np.arange(n)
        n_groups = int(groups.max()) + 1
        shared = rng.random(n) < SHARED
        label_draw = np.where(shared, rng.random(n_groups)[groups], rng.random(n))
        error_draw = np.where(shared, rng.random(n_groups)[groups], rng.random(n))
        actual = label_draw < self.base_rate
        predicted = np.where(actual, error_draw < self.tpr, error_draw >= self.tnr)
        return actual, predicted, groups


def sample_mcc(actual: np.ndarray, predicted: np.ndarray) -> float:
    cells = group_cells(actual, predicted).sum(axis=0)
    return float(_vector_mcc(*cells[:, None])[0])


def oracle_width(population: Population, n: int, rng: np.random.Generator, samples: int = 2000) -> float:
    values = np.array([sample_mcc(*population.sample(n, rng)[:2]) for _ in range(samples)])
    values = values[~np.isnan(values)]
    low, high = np.quantile(values, [0.025, 0.975])
    return float(high - low)


def synthetic(trials: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for grouping in GROUPINGS:
        for base_rate in BASE_RATES:
            for n in SIZES:
                if n * base_rate < 8:
                    continue  # fewer than 8 expected failures: Sextant does not generate evaluators there
                populations = [Population(base_rate, tpr, tnr, grouping != "1 row") for tpr, tnr in QUALITIES]
                oracle = {p: oracle_width(p, n, rng, samples=max(300, 2000 if n <= 1000 else 400)) for p in populations}
                covered, widths, ratios = 0, [], []
                count = trials if n <= 1000 else max(60, trials // 3)
                for trial in range(count):
                    population = populations[trial % len(populations)]
                    actual, predicted, groups = population.sample(n, rng)
                    low, high = mcc_interval(actual, predicted, groups=groups, seed=trial)
                    covered += low <= population.true_mcc <= high
                    widths.append(high - low)
                    ratios.append((high - low) / oracle[population])
                rows.append({"regime": f"n={n:<5d} fail {base_rate:>4.0%}  groups {grouping}", "trials": count,
                             "coverage": covered / count, "width": float(np.mean(widths)),
                             "ratio": float(np.mean(ratios))})
                _print_row(rows[-1])
    return rows


def data_sets(trials: int, seed: int) -> list[dict]:
    """Real group structure and confusion shapes; truth = the fixed evaluator's MCC on the whole set."""
    from bench.evals import DATA_SETS, reference_out_of_fold

    rng = np.random.default_rng(seed)
    rows = []
    for name, load in DATA_SETS.items():
        examples = load()
        actual, predicted, groups = reference_out_of_fold(examples, seed=seed)
        truth = sample_mcc(actual, predicted)
        group_ids = np.unique(groups, return_inverse=True)[1]
        members = [np.flatnonzero(group_ids == g) for g in range(group_ids.max() + 1)]
        for share in (0.4, 0.2):
            n_groups = max(3, int(round(share * len(members))))
            covered, widths, oracle_values = 0, [], []
            for trial in range(trials):
                picked = rng.integers(0, len(members), size=n_groups)
                rows_picked = np.concatenate([members[g] for g in picked])
                # Each drawn copy of a group is its own group (as a fresh draw from the population would be).
                copy_ids = np.repeat(np.arange(n_groups), [len(members[g]) for g in picked])
                low, high = mcc_interval(actual[rows_picked], predicted[rows_picked], groups=copy_ids, seed=trial)
                covered += low <= truth <= high
                widths.append(high - low)
                oracle_values.append(sample_mcc(actual[rows_picked], predicted[rows_picked]))
            oracle_values = np.array(oracle_values)
            oracle = np.subtract(*np.quantile(oracle_values[~np.isnan(oracle_values)], [0.975, 0.025]))
            rows.append({"regime": f"{name}: {share:.0%} of its {len(members)} groups (truth {truth:+.3f})",
                         "trials": trials, "coverage": covered / trials, "width": float(np.mean(widths)),
                         "ratio": float(np.mean(widths) / oracle)})
            _print_row(rows[-1])
    return rows


def procedure(splits: int, seed: int) -> list[dict]:
    """`sextant evals fit` on 60%, its figure and interval against the evaluator's MCC on the unseen 40%."""
    from app.evals.generation import compile_spec, generate
    from app.evals.generation.examples import as_examples
    from app.evals.generation.splits import holdout_split
    from bench.evals import DATA_SETS

    rows = []
    for name, load in DATA_SETS.items():
        examples = as_examples(load())
        actual = np.array([e.is_fail for e in examples])
        groups = [e.group_key for e in examples]
        agree = inside = 0
        for split in range(splits):
            fit_rows, unseen_rows = holdout_split(actual, groups, fraction=0.4, seed=seed + split)
            result = generate([examples[i] for i in fit_rows], seed=split)
            unseen = [examples[i] for i in unseen_rows]
            predicted, _ = compile_spec(result.spec).predict(unseen)
            unseen_actual = actual[unseen_rows]
            unseen_mcc = sample_mcc(unseen_actual, predicted)
            low, high = result.metrics["mcc_ci"]
            inside += low <= np.nan_to_num(unseen_mcc) <= high
            shown = posterior_draws(group_cells(*result.evidence), seed=split)
            seen_later = posterior_draws(group_cells(unseen_actual, predicted, [groups[i] for i in unseen_rows]),
                                         seed=split + 1)
            difference = np.quantile(shown - seen_later, [0.025, 0.975])
            agree += difference[0] <= 0 <= difference[1]
            print(f"    {name} split {split}: shown {result.metrics['mcc']:+.3f} [{low:+.3f}, {high:+.3f}] "
                  f"on {result.metrics['n']}, unseen {unseen_mcc:+.3f} on {len(unseen_rows)}")
        rows.append({"regime": f"{name}: 60/40 grouped splits", "trials": splits, "coverage": agree / splits,
                     "width": float("nan"), "ratio": float("nan"), "inside": inside / splits})
        print(f"    {name}: the two figures agree within their joint 95% uncertainty in {agree}/{splits}; "
              f"the shown interval contains the unseen figure in {inside}/{splits}")
    return rows


def posterior_draws(cells, seed: int) -> np.ndarray:
    draws = posterior_cells(np.asarray(cells, dtype=float), draws=INTERVAL_DRAWS, prior=PRIOR_PER_CELL, seed=seed)
    return np.nan_to_num(_vector_mcc(*draws.T), nan=0.0)


def _print_row(row: dict) -> None:
    mark = "" if row["coverage"] >= 0.93 and row["ratio"] <= 1.3 else "   <-- off target"
    print(f"  {row['regime']:58s} {row['trials']:5d}  {row['coverage']:6.1%}  {row['width']:6.3f}  "
          f"{row['ratio']:5.2f}{mark}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("synthetic", "data", "procedure"))
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"95% intervals: prior {PRIOR_PER_CELL} per cell, {INTERVAL_DRAWS} posterior draws")
    print(f"  {'regime':58s} {'trials':>5s}  {'cover':>6s}  {'width':>6s}  {'/oracle':>5s}")
    results = []
    if args.only in (None, "synthetic"):
        print("(a) synthetic populations, known true MCC")
        results += synthetic(args.trials, args.seed)
    if args.only in (None, "data"):
        print("(b) shared data sets as populations, grouped draws")
        results += data_sets(args.trials, args.seed)
    if args.only in (None, "procedure"):
        print("(c) the whole procedure on grouped 60/40 splits")
        results += procedure(args.splits, args.seed)
    worst = min(r["coverage"] for r in results)
    print(f"lowest coverage {worst:.1%} over {len(results)} regimes; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
