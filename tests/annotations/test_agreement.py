from datetime import datetime, timedelta

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from app.annotations.agreement import (
    Adjudication,
    LabelSource,
    Vote,
    cohen_kappa,
    fleiss_kappa,
    human_label,
    pairwise_agreement,
    percent_agreement,
    queue_agreement,
)

T0 = datetime(2025, 3, 1, 12, 0)


def two_annotator_ratings(verdicts_a, verdicts_b):
    return [(i, "a", v) for i, v in enumerate(verdicts_a)] + [(i, "b", v) for i, v in enumerate(verdicts_b)]


def ratings_from_table(counts_per_item, categories):
    """Expand a subjects x categories count table into one rating per (item, rater)."""
    ratings = []
    for item, counts in enumerate(counts_per_item):
        rater = 0
        for category, count in zip(categories, counts):
            for _ in range(count):
                ratings.append((item, rater, category))
                rater += 1
    return ratings


# --- Cohen's kappa -------------------------------------------------------------------


def test_cohen_kappa_matches_the_hand_computed_two_by_two_example():
    # 50 items: both pass 20, a pass/b fail 5, a fail/b pass 10, both fail 15.
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.2 / 0.5 = 0.4.
    a = ["pass"] * 25 + ["fail"] * 25
    b = ["pass"] * 20 + ["fail"] * 5 + ["pass"] * 10 + ["fail"] * 15
    result = cohen_kappa(two_annotator_ratings(a, b), "a", "b")
    assert result.value == pytest.approx(0.4)
    assert result.n_items == 50
    assert result.reason is None


@pytest.mark.parametrize("seed", range(20))
def test_cohen_kappa_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 60))
    a = rng.choice(["pass", "fail"], size=n, p=[0.7, 0.3])
    # b copies a with some noise so kappa covers a range of values.
    flip = rng.random(n) < rng.uniform(0.05, 0.6)
    b = np.where(flip, np.where(a == "pass", "fail", "pass"), a)
    result = cohen_kappa(two_annotator_ratings(list(a), list(b)), "a", "b")
    assert result.value == pytest.approx(cohen_kappa_score(a, b))


def test_cohen_kappa_uses_only_items_both_annotators_labelled():
    ratings = two_annotator_ratings(["pass", "fail", "pass", "fail"], ["pass", "fail", "fail", "fail"])
    ratings += [(10, "a", "pass"), (11, "b", "fail")]
    result = cohen_kappa(ratings, "a", "b")
    assert result.n_items == 4
    expected = cohen_kappa_score(["pass", "fail", "pass", "fail"], ["pass", "fail", "fail", "fail"])
    assert result.value == pytest.approx(expected)


def test_cohen_kappa_is_undefined_when_both_gave_the_same_single_verdict():
    result = cohen_kappa(two_annotator_ratings(["pass"] * 5, ["pass"] * 5), "a", "b")
    assert result.value is None
    assert result.n_items == 5
    assert "chance agreement is 1" in result.reason


def test_cohen_kappa_is_zero_not_undefined_when_each_annotator_is_constant_but_opposite():
    result = cohen_kappa(two_annotator_ratings(["pass"] * 4, ["fail"] * 4), "a", "b")
    assert result.value == pytest.approx(0.0)


def test_cohen_kappa_without_shared_items_says_so():
    result = cohen_kappa([(1, "a", "pass"), (2, "b", "pass")], "a", "b")
    assert (result.value, result.n_items) == (None, 0)
    assert "no items labelled by both" in result.reason


# --- Fleiss' kappa -------------------------------------------------------------------

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories.
WIKIPEDIA_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_reproduces_the_textbook_example():
    categories = (1, 2, 3, 4, 5)
    result = fleiss_kappa(ratings_from_table(WIKIPEDIA_TABLE, categories), categories)
    # Published: P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
    assert round(result.value, 3) == 0.210
    assert result.n_items == 10


def test_percent_agreement_is_the_textbook_mean_pair_agreement():
    categories = (1, 2, 3, 4, 5)
    result = percent_agreement(ratings_from_table(WIKIPEDIA_TABLE, categories), categories)
    assert round(result.value, 3) == 0.378


def test_fleiss_kappa_with_varying_numbers_of_raters_matches_hand_computation():
    ratings = [
        ("A", 1, "pass"), ("A", 2, "pass"), ("A", 3, "fail"),  # P_A = 2/6
        ("B", 1, "pass"), ("B", 2, "pass"),                    # P_B = 1
        ("C", 1, "fail"), ("C", 3, "pass"),                    # P_C = 0
        ("D", 2, "fail"),                                      # one rating: left out
    ]  # fmt: skip
    # P_a = 4/9; pi_pass = (2/3 + 1 + 1/2) / 3 = 13/18; P_e = (13/18)^2 + (5/18)^2 = 97/162
    # kappa = (4/9 - 97/162) / (1 - 97/162) = -25/65
    result = fleiss_kappa(ratings)
    assert result.value == pytest.approx(-25 / 65)
    assert result.n_items == 3


def test_fleiss_kappa_with_two_raters_per_item_is_scotts_pi():
    a = ["pass", "pass", "fail", "fail", "pass", "fail"]
    b = ["pass", "fail", "fail", "fail", "pass", "pass"]
    # Scott's pi: pooled shares pass = fail = 1/2, p_e = 1/2, p_o = 4/6 -> (2/3 - 1/2) / (1/2) = 1/3.
    assert fleiss_kappa(two_annotator_ratings(a, b)).value == pytest.approx(1 / 3)


def test_fleiss_kappa_is_undefined_when_every_rating_is_the_same():
    ratings = [(item, rater, "fail") for item in range(4) for rater in range(3)]
    result = fleiss_kappa(ratings)
    assert result.value is None
    assert result.n_items == 4
    assert "'fail'" in result.reason


def test_figures_without_any_doubly_rated_item_are_undefined():
    ratings = [(1, "a", "pass"), (2, "b", "fail")]
    for result in (fleiss_kappa(ratings), percent_agreement(ratings)):
        assert (result.value, result.n_items) == (None, 0)
        assert "two or more ratings" in result.reason


# --- pairs and queues ----------------------------------------------------------------


def test_pairwise_agreement_covers_every_pair_over_its_shared_items():
    ratings = [
        (1, "ann", "pass"), (1, "bob", "pass"), (1, "cat", "fail"),
        (2, "ann", "fail"), (2, "bob", "fail"),
        (3, "ann", "pass"), (3, "bob", "fail"), (3, "cat", "fail"),
        (4, "bob", "pass"), (4, "cat", "pass"),
    ]  # fmt: skip
    pairs = {(p.annotator_a, p.annotator_b): p for p in pairwise_agreement(ratings)}
    assert set(pairs) == {("ann", "bob"), ("ann", "cat"), ("bob", "cat")}

    ann_bob = pairs[("ann", "bob")]
    assert (ann_bob.percent.n_items, ann_bob.kappa.n_items) == (3, 3)
    assert ann_bob.percent.value == pytest.approx(2 / 3)
    expected = cohen_kappa_score(["pass", "fail", "pass"], ["pass", "fail", "fail"])
    assert ann_bob.kappa.value == pytest.approx(expected)

    bob_cat = pairs[("bob", "cat")]
    assert bob_cat.percent.n_items == 3
    expected = cohen_kappa_score(["pass", "fail", "pass"], ["fail", "fail", "pass"])
    assert bob_cat.kappa.value == pytest.approx(expected)

    ann_cat = pairs[("ann", "cat")]
    assert ann_cat.percent.value == pytest.approx(0.0)
    assert ann_cat.kappa.value == pytest.approx(cohen_kappa_score(["pass", "pass"], ["fail", "fail"]))


def test_pairs_are_ordered_by_id_even_with_mixed_id_types():
    ratings = [(1, 10, "pass"), (1, 9, "fail"), (1, "x", "pass")]
    pairs = [(p.annotator_a, p.annotator_b) for p in pairwise_agreement(ratings)]
    assert pairs == [(9, 10), (9, "x"), (10, "x")]


def test_queue_agreement_uses_cohen_for_two_annotators_and_fleiss_for_more():
    two = two_annotator_ratings(["pass", "fail", "pass", "pass"], ["pass", "fail", "fail", "pass"])
    summary = queue_agreement(two)
    assert (summary.n_annotators, summary.kappa_method) == (2, "cohen")
    assert summary.kappa == cohen_kappa(two, "a", "b")
    assert summary.percent.value == pytest.approx(0.75)

    three = two + [(0, "c", "fail"), (1, "c", "fail")]
    summary = queue_agreement(three)
    assert (summary.n_annotators, summary.kappa_method) == (3, "fleiss")
    assert summary.kappa == fleiss_kappa(three)
    assert len(summary.pairs) == 3


def test_bad_ratings_are_rejected():
    with pytest.raises(ValueError, match="twice"):
        percent_agreement([(1, "a", "pass"), (1, "a", "fail")])
    with pytest.raises(ValueError, match="maybe"):
        fleiss_kappa([(1, "a", "pass"), (1, "b", "maybe")])


# --- the human label -----------------------------------------------------------------


def vote(annotator, verdict, minutes=0, issues=()):
    return Vote(annotator, verdict, T0 + timedelta(minutes=minutes), frozenset(issues))


def test_no_annotations_means_no_label():
    label = human_label([])
    assert (label.verdict, label.source) == (None, LabelSource.UNLABELLED)


def test_a_single_annotation_is_the_label():
    label = human_label([vote("ann", "pass")])
    assert (label.verdict, label.source, label.issue_ids) == ("pass", LabelSource.UNANIMOUS, frozenset())
    assert not label.disputed


def test_unanimous_fail_carries_the_issues_most_failing_annotators_named():
    votes = [
        vote("ann", "fail", issues={"x", "y"}),
        vote("bob", "fail", issues={"x"}),
        vote("cat", "fail", issues={"x", "z"}),
    ]
    label = human_label(votes)
    assert (label.verdict, label.source) == ("fail", LabelSource.UNANIMOUS)
    assert label.issue_ids == {"x"}


def test_majority_fail_counts_issues_among_the_failing_annotators_only():
    votes = [
        vote("ann", "fail", issues={"x"}),
        vote("bob", "fail", issues={"x", "y"}),
        vote("cat", "pass", issues={"y"}),
    ]
    label = human_label(votes)
    assert (label.verdict, label.source, label.n_fail, label.n_pass) == ("fail", LabelSource.MAJORITY, 2, 1)
    # y: named by 1 of 2 failing annotators (not more than half); the pass vote's y does not count.
    assert label.issue_ids == {"x"}
    assert label.disputed


def test_failing_annotators_who_share_no_issue_leave_the_failure_unassigned():
    label = human_label([vote("ann", "fail", issues={"x"}), vote("bob", "fail", issues={"y"})])
    assert label.verdict == "fail"
    assert label.issue_ids == frozenset()


def test_majority_pass_carries_no_issues():
    label = human_label([vote("ann", "pass"), vote("bob", "pass"), vote("cat", "fail", issues={"x"})])
    assert (label.verdict, label.source, label.issue_ids) == ("pass", LabelSource.MAJORITY, frozenset())


def test_a_tie_is_unresolved():
    label = human_label([vote("ann", "pass"), vote("bob", "fail", issues={"x"})])
    assert (label.verdict, label.source, label.issue_ids) == (None, LabelSource.UNRESOLVED, frozenset())
    assert "tie" in label.reason
    assert label.disputed


def test_adjudication_overrides_the_annotators():
    votes = [vote("ann", "fail", issues={"x"}), vote("bob", "fail", issues={"x"}), vote("cat", "pass")]
    label = human_label(votes, Adjudication("pass"))
    assert (label.verdict, label.source, label.issue_ids) == ("pass", LabelSource.ADJUDICATED, frozenset())
    assert not label.disputed

    label = human_label(votes, Adjudication("fail", {"y"}))
    assert (label.verdict, label.issue_ids) == ("fail", {"y"})


def test_adjudicated_pass_drops_issue_ids():
    assert human_label([], Adjudication("pass", {"x"})).issue_ids == frozenset()


def test_only_each_annotators_latest_annotation_counts():
    # ann changed her mind from fail to pass; given newest first to show order does not matter.
    votes = [
        vote("ann", "pass", minutes=10),
        vote("bob", "fail", minutes=5, issues={"x"}),
        vote("ann", "fail", minutes=0, issues={"x"}),
    ]
    label = human_label(votes)
    assert (label.verdict, label.source) == (None, LabelSource.UNRESOLVED)
    assert (label.n_pass, label.n_fail) == (1, 1)


def test_on_equal_times_the_later_given_annotation_wins():
    label = human_label([vote("ann", "fail", issues={"x"}), vote("ann", "pass")])
    assert label.verdict == "pass"


def test_invalid_verdicts_are_rejected():
    with pytest.raises(ValueError):
        vote("ann", "maybe")
    with pytest.raises(ValueError):
        Adjudication("unsure")
