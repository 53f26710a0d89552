import csv
import time

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from app.issues.clustering import Failure, IssueDef, cluster_failures, suggest
from tests.datasets import shared_data_dir

LANGUAGE = IssueDef(
    "lang",
    "Answers in the wrong language",
    "The reply is written in a different language from the one the user wrote in, "
    "e.g. French to an English question.",
)
REFUND = IssueDef(
    "refund",
    "Invents a refund policy",
    "Quotes a refund or return policy that does not exist in our terms, such as a 90-day refund window.",
)
ISSUES = [LANGUAGE, REFUND]

WRONG_LANGUAGE = [
    Failure(
        "l1",
        "User wrote in English but the assistant answered in French: wrong language.",
        "Bonjour, votre commande est en route.",
    ),
    Failure(
        "l2",
        "The reply is in Spanish although the customer wrote in English.",
        "Hola, su pedido llegará mañana.",
    ),
    Failure(
        "l3",
        "Switched language to German in the reply; the user wrote English.",
        "Ihre Bestellung ist unterwegs.",
    ),
]
MADE_UP_REFUNDS = [
    Failure(
        "r1",
        "Claims we offer a 90-day refund window; our refund policy is 30 days.",
        "You can get a refund within 90 days.",
    ),
    Failure(
        "r2",
        "Made up a refund policy for digital goods that does not exist.",
        "Digital purchases are refundable anytime.",
    ),
    Failure(
        "r3",
        "Quoted a return policy we do not have (free returns forever) instead of our refund terms.",
        "Returns are free, forever.",
    ),
]
WEATHER_TIMEOUTS = [
    Failure("w1", "The weather tool call timed out and the answer came back empty.", ""),
    Failure("w2", "Empty answer because the weather tool timed out.", ""),
    Failure("w3", "Weather lookup timed out, assistant gave an empty answer.", "Sorry."),
]


def ids(failures):
    return tuple(f.id for f in failures)


# --- matching ------------------------------------------------------------------------


def test_paraphrases_of_an_issue_definition_are_matched_to_it():
    suggestions = suggest(WRONG_LANGUAGE + MADE_UP_REFUNDS + WEATHER_TIMEOUTS, ISSUES)
    matches = {s.issue_id: s for s in suggestions if s.kind == "match"}
    assert set(matches) == {"lang", "refund"}
    assert matches["lang"].member_ids == ids(WRONG_LANGUAGE)
    assert matches["lang"].label == LANGUAGE.title
    assert matches["refund"].member_ids == ids(MADE_UP_REFUNDS)
    assert all(0.15 <= s.score <= 1 for s in matches.values())


def test_failures_unlike_any_issue_become_a_new_cluster_labelled_by_their_terms():
    suggestions = suggest(WRONG_LANGUAGE + MADE_UP_REFUNDS + WEATHER_TIMEOUTS, ISSUES)
    new = [s for s in suggestions if s.kind == "new"]
    assert len(new) == 1
    assert new[0].issue_id is None
    assert new[0].member_ids == ids(WEATHER_TIMEOUTS)
    assert "weather" in new[0].label and "timed" in new[0].label
    assert 0 < new[0].score <= 1


def test_a_single_failure_is_matched_on_its_own():
    lone = Failure("x", "Answered in Italian even though the user wrote in English: wrong language.", "")
    suggestions = suggest(MADE_UP_REFUNDS + [lone], ISSUES)
    by_issue = {s.issue_id: s.member_ids for s in suggestions}
    assert by_issue == {"refund": ids(MADE_UP_REFUNDS), "lang": ("x",)}


def test_small_clusters_matching_nothing_are_not_suggested():
    suggestions = suggest(WEATHER_TIMEOUTS[:2], ISSUES)
    assert suggestions == []
    pairs_allowed = suggest(WEATHER_TIMEOUTS[:2], ISSUES, min_cluster_size=2)
    assert [s.member_ids for s in pairs_allowed] == [ids(WEATHER_TIMEOUTS[:2])]


def test_without_issues_everything_is_a_new_cluster():
    suggestions = suggest(WRONG_LANGUAGE + WEATHER_TIMEOUTS, [])
    assert {s.kind for s in suggestions} == {"new"}
    assert sorted(s.member_ids for s in suggestions) == sorted([ids(WRONG_LANGUAGE), ids(WEATHER_TIMEOUTS)])


def test_a_stricter_threshold_turns_matches_into_new_clusters():
    suggestions = suggest(WRONG_LANGUAGE, ISSUES, match_threshold=0.99)
    assert [(s.kind, s.member_ids) for s in suggestions] == [("new", ids(WRONG_LANGUAGE))]


# --- robustness ----------------------------------------------------------------------


def test_degenerate_inputs_do_not_crash():
    assert suggest([], ISSUES) == []
    assert cluster_failures([]) == []
    blank = [
        Failure(1, "", ""),
        Failure(2, "the and of", ""),
        Failure(3, "Wrong language: French reply to English.", ""),
    ]
    clusters = cluster_failures(blank)
    assert sorted(m for c in clusters for m in c.member_ids) == [1, 2, 3]
    assert suggest(blank, ISSUES)[0].issue_id == "lang"
    assert suggest(blank[:2], ISSUES) == []


def test_results_are_deterministic():
    failures = tofueval_failures()[0][:300]
    assert cluster_failures(failures) == cluster_failures(failures)
    assert suggest(failures, ISSUES) == suggest(failures, ISSUES)


@pytest.mark.slow
def test_a_few_thousand_failures_take_seconds():
    failures, _ = tofueval_failures()
    rng = np.random.default_rng(0)
    # Repeat the critiques with a little noise so that no two failures are identical.
    many = []
    for i in range(3000):
        original = failures[i % len(failures)]
        noise = " ".join(rng.choice(["alpha", "beta", "gamma"], 2))
        many.append(Failure(i, f"{original.feedback} {noise}", original.output))
    started = time.perf_counter()
    suggestions = suggest(many, ISSUES)
    assert time.perf_counter() - started < 30
    assert suggestions


# --- TofuEval: failure types land in different clusters more often than chance -------


def tofueval_failures():
    """Sentences judged unfaithful (sent_label = no) with a single failure type."""
    failures, types = [], []
    for path in sorted((shared_data_dir() / "tofueval").glob("*.csv")):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["sent_label"] == "no" and row["type"] and "," not in row["type"]:
                    failures.append(Failure(f"{path.stem}:{len(failures)}", row["exp"], row["summ_sent"]))
                    types.append(row["type"])
    return failures, types


def cluster_labels(clusters, failures):
    label_of = {member: index for index, cluster in enumerate(clusters) for member in cluster.member_ids}
    return [label_of[f.id] for f in failures]


def test_tofueval_failure_types_cluster_better_than_chance():
    failures, types = tofueval_failures()
    assert len(set(types)) >= 5
    clusters = cluster_failures(failures)
    assigned = cluster_labels(clusters, failures)
    ari = adjusted_rand_score(types, assigned)
    rng = np.random.default_rng(0)
    permuted = [adjusted_rand_score(rng.permutation(types), assigned) for _ in range(20)]
    assert ari > 0
    assert ari > max(permuted)


def test_cluster_labels_name_distinctive_words_once():
    failures, _ = tofueval_failures()
    for cluster in cluster_failures(failures)[:10]:
        words = cluster.label.replace(",", " ").split()
        assert words
        assert len(words) == len(set(words)), cluster.label
