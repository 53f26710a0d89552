"""How well do failure clusters follow TofuEval's human failure types? Prints figures, asserts nothing.

    .venv/bin/python -m bench.clustering

For each TofuEval dev file and both together: the unfaithful sentences with a single
failure type are clustered from their critique (`exp`, output = `summ_sent`) with the
default settings of app.issues.clustering; the adjusted Rand index between clusters and
types is compared with the ARI of 200 random permutations of the types. A sensitivity
line per distance threshold follows, to show how much the figure depends on it.
"""

import csv
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from app.issues.clustering import Failure, cluster_failures
from tests.datasets import shared_data_dir

PERMUTATIONS = 200


def load(paths: list[Path]) -> tuple[list[Failure], list[str]]:
    failures, types = [], []
    for path in paths:
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["sent_label"] == "no" and row["type"] and "," not in row["type"]:
                    failures.append(Failure(f"{path.stem}:{len(failures)}", row["exp"], row["summ_sent"]))
                    types.append(row["type"])
    return failures, types


def cluster_labels(failures: list[Failure], **params) -> list[int]:
    clusters = cluster_failures(failures, **params)
    label_of = {member: index for index, cluster in enumerate(clusters) for member in cluster.member_ids}
    return [label_of[f.id] for f in failures]


def report(name: str, failures: list[Failure], types: list[str]) -> None:
    started = time.perf_counter()
    assigned = cluster_labels(failures)
    seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    permuted = [adjusted_rand_score(rng.permutation(types), assigned) for _ in range(PERMUTATIONS)]
    print(
        f"{name:<32} n={len(failures):<4} types={len(set(types))} clusters={len(set(assigned)):<3} "
        f"ARI={adjusted_rand_score(types, assigned):.3f}  permuted ARI mean={np.mean(permuted):+.4f} "
        f"sd={np.std(permuted):.4f} max={np.max(permuted):.4f}  ({seconds:.1f} s)"
    )


def main() -> None:
    paths = sorted((shared_data_dir() / "tofueval").glob("*.csv"))
    for path in paths:
        report(path.stem, *load([path]))
    failures, types = load(paths)
    report("both files", failures, types)
    print("\nsensitivity (both files):")
    for threshold in (0.8, 0.85, 0.9, 0.95):
        assigned = cluster_labels(failures, distance_threshold=threshold)
        print(
            f"  distance_threshold={threshold:<5} clusters={len(set(assigned)):<3} "
            f"ARI={adjusted_rand_score(types, assigned):.3f}"
        )


if __name__ == "__main__":
    main()
