import numpy as np
import pytest

from app.evals.generation.splits import SplitError, cv_folds, holdout_split


def _data(n_groups=40, per_group=4, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    y = rng.random(n_groups * per_group) < 0.35
    return y, [f"g{g}" for g in groups]


def test_holdout_is_grouped_stratified_and_about_thirty_percent():
    y, groups = _data()
    train, held = holdout_split(y, groups, seed=3)
    assert set(train).isdisjoint(held) and len(train) + len(held) == len(y)
    assert {groups[i] for i in train}.isdisjoint({groups[i] for i in held})
    assert 0.2 <= len(held) / len(y) <= 0.4
    assert abs(y[held].mean() - y.mean()) < 0.12


def test_holdout_is_deterministic_per_seed():
    y, groups = _data()
    assert np.array_equal(holdout_split(y, groups, seed=5)[1], holdout_split(y, groups, seed=5)[1])
    assert not np.array_equal(holdout_split(y, groups, seed=5)[1], holdout_split(y, groups, seed=6)[1])


def test_cv_folds_never_split_a_group_and_cover_each_repeat():
    y, groups = _data()
    folds = cv_folds(y, groups, n_splits=5, n_repeats=2, seed=0)
    for fold in folds:
        assert {groups[i] for i in fold.train}.isdisjoint({groups[i] for i in fold.test})
    for repeat in (0, 1):
        tested = np.concatenate([f.test for f in folds if f.repeat == repeat])
        assert sorted(tested) == list(range(len(y)))


def test_too_few_groups_is_a_clear_error():
    with pytest.raises(SplitError, match="groups"):
        holdout_split([True, False, True, False], ["a", "a", "b", "b"])
