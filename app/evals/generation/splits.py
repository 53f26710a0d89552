"""Grouped, stratified splits: the held-out split and the CV folds of the search.

Examples of one group (one session, one task, one input) never sit on both
sides of a split: near-duplicates on both sides would let an evaluator pass
the exam by memory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

HOLDOUT_FRACTION = 0.3


class SplitError(ValueError):
    """The data cannot be split with both labels on both sides."""


@dataclass(frozen=True)
class Fold:
    train: np.ndarray
    test: np.ndarray
    repeat: int


def _group_ids(groups: Sequence[Any]) -> np.ndarray:
    _, index = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    return index


def _kfold(y: np.ndarray, group_ids: np.ndarray, n_splits: int, seed: int) -> list[np.ndarray]:
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # "The least populated class has fewer members than n_splits" is expected on small data.
        warnings.simplefilter("ignore", UserWarning)
        return [test for _, test in splitter.split(np.zeros(len(y)), y, group_ids)]


def _has_both(y: np.ndarray) -> bool:
    return bool(y.any()) and bool((~y).any())


def holdout_split(
    actual_fail: Sequence[bool], groups: Sequence[Any], *, fraction: float = HOLDOUT_FRACTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): ~`fraction` held out, grouped, stratified by label.

    Groups are drawn at random within strata of their failure share (all
    pass, mostly pass, mixed, mostly fail, all fail). Taking whole folds of a
    greedy stratified group k-fold instead would not be random: its first
    folds collect the "pure" groups, which are easier, and the held-out
    figure would flatter every evaluator.
    """
    y = np.asarray(actual_fail, dtype=bool)
    group_ids = _group_ids(groups)
    n_groups = int(group_ids.max()) + 1 if len(y) else 0
    if n_groups < 3:
        raise SplitError(f"needs at least 3 distinct groups to hold some out, has {n_groups}")
    sizes = np.bincount(group_ids, minlength=n_groups)
    fail_share = np.bincount(group_ids, weights=y.astype(float), minlength=n_groups) / sizes
    strata = np.round(fail_share * 4).astype(int)
    rng = np.random.default_rng(seed)
    for _ in range(50):
        held_groups = []
        for stratum in np.unique(strata):
            members = rng.permutation(np.flatnonzero(strata == stratum))
            # Whole groups until the stratum's share of examples is reached (rounding at random).
            target = fraction * sizes[members].sum()
            taken = np.cumsum(sizes[members])
            count = int(np.searchsorted(taken, target + rng.random() * np.median(sizes[members]) - 1e-9))
            held_groups.extend(members[:count].tolist())
        held_mask = np.isin(group_ids, held_groups)
        held, train = np.flatnonzero(held_mask), np.flatnonzero(~held_mask)
        if _has_both(y[held]) and _has_both(y[train]):
            return train, held
    raise SplitError("could not hold out examples with both labels on both sides; groups are too unbalanced")


def cv_folds(
    actual_fail: Sequence[bool], groups: Sequence[Any], *, n_splits: int = 5, n_repeats: int = 2, seed: int = 0
) -> list[Fold]:
    """Repeated stratified group k-fold; folds whose train part lacks a label are skipped."""
    y = np.asarray(actual_fail, dtype=bool)
    group_ids = _group_ids(groups)
    n_groups = int(group_ids.max()) + 1
    n_splits = max(2, min(n_splits, n_groups))
    folds = []
    everything = np.arange(len(y))
    for repeat in range(n_repeats):
        for test in _kfold(y, group_ids, n_splits, seed + 104729 * repeat):
            train = np.setdiff1d(everything, test)
            if _has_both(y[train]) and len(test):
                folds.append(Fold(train=train, test=np.sort(test), repeat=repeat))
    if not folds:
        raise SplitError("no usable cross-validation fold")
    return folds


def inner_folds(actual_fail: np.ndarray, groups: Sequence[Any], *, n_splits: int = 3, seed: int = 0) -> list[Fold]:
    """One round of grouped folds inside a training part (for threshold tuning)."""
    return cv_folds(actual_fail, groups, n_splits=n_splits, n_repeats=1, seed=seed)
