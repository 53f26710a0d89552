"""Inter-annotator agreement on verdicts, and the one rule that decides a trace's human label.

Pure functions: no database, no web. The service layer loads annotations and passes
plain values in.

Agreement figures
=================
Input is a list of ``(item_id, annotator_id, verdict)`` tuples, at most one per item and
annotator (the annotator's latest verdict; a duplicate is a caller bug and raises
``ValueError``). Verdicts are ``"pass"``/``"fail"``; every function also takes
``categories=`` so that the same code can be checked against textbook examples with more
than two categories.

Every figure is an :class:`Agreement` carrying ``value``, the number of items behind it,
and, when the value is undefined, ``value=None`` with a ``reason`` — never a crash or a
silent 0.

percent agreement
    Mean, over items with at least two ratings, of the share of rater pairs on the item
    that agree (Fleiss' P_i). With two annotators this is the plain share of items on
    which they agree.
Cohen's kappa (two annotators)
    kappa = (p_o - p_e) / (1 - p_e) over the items both annotators labelled, where p_e
    uses each annotator's own marginal distribution — the definition of scikit-learn's
    ``cohen_kappa_score``. Undefined when p_e = 1 (both gave the same single verdict to
    everything: perfect but uninformative agreement).
Fleiss' kappa (any number of ratings per item)
    Fleiss (1971) assumes every item has the same number of ratings. Queues do not
    guarantee that (an annotator skips, an admin adds a third opinion), so this module
    uses the form generalised to a varying number of raters (as in Gwet, *Handbook of
    Inter-Rater Reliability*), restricted to items with at least two ratings:

        P_i  = sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))      per item i with r_i >= 2
        P_a  = mean_i P_i
        pi_k = mean_i (r_ik / r_i)
        P_e  = sum_k pi_k ** 2
        kappa = (P_a - P_e) / (1 - P_e)

    With a constant number of ratings per item this is exactly Fleiss' kappa. Items rated
    once are left out entirely: they say nothing about agreement, and counting them in
    the marginals would let unchecked items move the figure.
per pair
    Percent agreement and Cohen's kappa for every pair of annotators who share at least
    one item, each over the items both labelled.

The human label
===============
:func:`human_label` is the single place that turns a trace's annotations into its label;
issues, evaluator training and MCC all use it. Only each annotator's latest annotation
counts (latest ``created_at``; on equal times, the later one in the given order). Then:

1. an adjudication, if any, decides (verdict and failure modes);
2. otherwise, if all annotators agree, that verdict (one annotator counts as unanimous);
3. otherwise the strict majority verdict;
4. otherwise (a tie) the label is unresolved: ``verdict=None``, awaiting adjudication.

A fail label carries failure modes (issue ids): the adjudication's, else every issue
named by a strict majority (more than half) of the annotators who said fail. A failure
whose annotators do not agree on any issue therefore carries none and counts as an
unassigned failure (which the clustering suggestions pick up). A pass label carries no
failure modes; issue ids left on a pass annotation are ignored.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import combinations

PASS = "pass"
FAIL = "fail"
VERDICTS: tuple[str, str] = (PASS, FAIL)

Rating = tuple[Hashable, Hashable, Hashable]
"""``(item_id, annotator_id, verdict)``."""

# Chance agreement this close to 1 makes kappa's denominator vanish.
_DEGENERATE = 1e-12


@dataclass(frozen=True)
class Agreement:
    value: float | None
    n_items: int
    reason: str | None = None


@dataclass(frozen=True)
class PairAgreement:
    annotator_a: Hashable
    annotator_b: Hashable
    percent: Agreement
    kappa: Agreement


@dataclass(frozen=True)
class QueueAgreement:
    """A queue's figures: Cohen's kappa with two annotators, Fleiss' kappa with more."""

    n_annotators: int
    percent: Agreement
    kappa_method: str
    kappa: Agreement
    pairs: list[PairAgreement]


# --- agreement figures -------------------------------------------------------------


def percent_agreement(ratings: Iterable[Rating], categories: Collection = VERDICTS) -> Agreement:
    items = _multiply_rated(_ratings_by_item(ratings, categories))
    if not items:
        return _no_overlap()
    per_item = [_pair_agreement_share(list(votes.values())) for votes in items.values()]
    return Agreement(sum(per_item) / len(per_item), len(items))


def cohen_kappa(
    ratings: Iterable[Rating],
    annotator_a: Hashable,
    annotator_b: Hashable,
    categories: Collection = VERDICTS,
) -> Agreement:
    """Cohen's kappa of two annotators over the items both of them labelled."""
    by_item = _ratings_by_item(ratings, categories)
    pairs = [
        (votes[annotator_a], votes[annotator_b])
        for votes in by_item.values()
        if annotator_a in votes and annotator_b in votes
    ]
    return _cohen_kappa_of_pairs(pairs)


def fleiss_kappa(ratings: Iterable[Rating], categories: Collection = VERDICTS) -> Agreement:
    """Fleiss' kappa, generalised to a varying number of ratings per item (see module doc)."""
    items = _multiply_rated(_ratings_by_item(ratings, categories))
    if not items:
        return _no_overlap()
    observed = sum(_pair_agreement_share(list(v.values())) for v in items.values()) / len(items)
    shares: Counter = Counter()
    for votes in items.values():
        for category, count in Counter(votes.values()).items():
            shares[category] += count / len(votes) / len(items)
    chance = sum(share**2 for share in shares.values())
    return _kappa(observed, chance, len(items), shares)


def pairwise_agreement(
    ratings: Iterable[Rating], categories: Collection = VERDICTS
) -> list[PairAgreement]:
    """Both figures for every pair of annotators sharing at least one item."""
    shared: defaultdict[tuple, list[tuple]] = defaultdict(list)
    for votes in _ratings_by_item(ratings, categories).values():
        for a, b in combinations(sorted(votes, key=_sort_key), 2):
            shared[(a, b)].append((votes[a], votes[b]))
    return [
        PairAgreement(
            annotator_a=a,
            annotator_b=b,
            percent=Agreement(sum(x == y for x, y in pairs) / len(pairs), len(pairs)),
            kappa=_cohen_kappa_of_pairs(pairs),
        )
        for (a, b), pairs in sorted(shared.items(), key=lambda kv: tuple(map(_sort_key, kv[0])))
    ]


def queue_agreement(ratings: Iterable[Rating], categories: Collection = VERDICTS) -> QueueAgreement:
    ratings = list(ratings)
    annotators = sorted({annotator for _, annotator, _ in ratings}, key=_sort_key)
    if len(annotators) == 2:
        method, kappa = "cohen", cohen_kappa(ratings, *annotators, categories=categories)
    else:
        method, kappa = "fleiss", fleiss_kappa(ratings, categories)
    return QueueAgreement(
        n_annotators=len(annotators),
        percent=percent_agreement(ratings, categories),
        kappa_method=method,
        kappa=kappa,
        pairs=pairwise_agreement(ratings, categories),
    )


def _ratings_by_item(ratings: Iterable[Rating], categories: Collection) -> dict[Hashable, dict]:
    by_item: defaultdict[Hashable, dict] = defaultdict(dict)
    for item, annotator, verdict in ratings:
        if verdict not in categories:
            raise ValueError(f"verdict {verdict!r} is not one of {sorted(map(str, categories))}")
        if annotator in by_item[item]:
            raise ValueError(f"annotator {annotator!r} rated item {item!r} twice; pass the latest only")
        by_item[item][annotator] = verdict
    return dict(by_item)


def _multiply_rated(by_item: dict[Hashable, dict]) -> dict[Hashable, dict]:
    return {item: votes for item, votes in by_item.items() if len(votes) >= 2}


def _pair_agreement_share(verdicts: Sequence) -> float:
    """Share of the item's rater pairs that agree (Fleiss' P_i)."""
    n = len(verdicts)
    agreeing_pairs = sum(c * (c - 1) for c in Counter(verdicts).values())
    return agreeing_pairs / (n * (n - 1))


def _cohen_kappa_of_pairs(pairs: Sequence[tuple]) -> Agreement:
    if not pairs:
        return Agreement(None, 0, "no items labelled by both annotators")
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    counts_a = Counter(a for a, _ in pairs)
    counts_b = Counter(b for _, b in pairs)
    chance = sum(counts_a[c] * counts_b[c] for c in counts_a) / n**2
    return _kappa(observed, chance, n, counts_a + counts_b)


def _kappa(observed: float, chance: float, n_items: int, used_categories: Counter) -> Agreement:
    if chance >= 1 - _DEGENERATE:
        only = next(iter(used_categories))
        return Agreement(
            None,
            n_items,
            f"every rating is {only!r}: chance agreement is 1, so kappa is undefined",
        )
    return Agreement((observed - chance) / (1 - chance), n_items)


def _no_overlap() -> Agreement:
    return Agreement(None, 0, "no item has two or more ratings")


def _sort_key(value: object) -> tuple[str, object]:
    # Ids are compared only with ids of the same type, so mixed int/str ids still sort.
    return (type(value).__name__, value)


# --- the human label ---------------------------------------------------------------


class LabelSource(StrEnum):
    ADJUDICATED = "adjudicated"
    UNANIMOUS = "unanimous"
    MAJORITY = "majority"
    UNRESOLVED = "unresolved"  # a tie, waiting for an adjudication
    UNLABELLED = "unlabelled"  # nobody annotated the trace yet


@dataclass(frozen=True)
class Vote:
    """One annotation of a trace, reduced to what the label rule needs."""

    annotator_id: Hashable
    verdict: str
    created_at: datetime
    issue_ids: frozenset = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _check_verdict(self.verdict)
        object.__setattr__(self, "issue_ids", frozenset(self.issue_ids))


@dataclass(frozen=True)
class Adjudication:
    verdict: str
    issue_ids: frozenset = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _check_verdict(self.verdict)
        object.__setattr__(self, "issue_ids", frozenset(self.issue_ids))


@dataclass(frozen=True)
class Label:
    verdict: str | None
    issue_ids: frozenset
    source: LabelSource
    reason: str
    n_pass: int
    n_fail: int

    @property
    def disputed(self) -> bool:
        """Annotators disagree and no adjudication settled it: belongs on the disagreements list."""
        return self.source in (LabelSource.MAJORITY, LabelSource.UNRESOLVED)


def human_label(annotations: Iterable[Vote], adjudication: Adjudication | None = None) -> Label:
    """The trace's label: adjudicated > unanimous > majority; a tie is unresolved."""
    votes = latest_votes(annotations)
    n_pass = sum(v.verdict == PASS for v in votes)
    n_fail = len(votes) - n_pass
    tally = f"{n_fail} fail, {n_pass} pass"
    if adjudication is not None:
        return Label(
            verdict=adjudication.verdict,
            issue_ids=adjudication.issue_ids if adjudication.verdict == FAIL else frozenset(),
            source=LabelSource.ADJUDICATED,
            reason=f"adjudicated {adjudication.verdict} (annotators: {tally})",
            n_pass=n_pass,
            n_fail=n_fail,
        )
    if not votes:
        return Label(None, frozenset(), LabelSource.UNLABELLED, "no annotations", 0, 0)
    if n_pass == n_fail:
        reason = f"tie ({tally}): needs adjudication"
        return Label(None, frozenset(), LabelSource.UNRESOLVED, reason, n_pass, n_fail)
    verdict = FAIL if n_fail > n_pass else PASS
    source = LabelSource.UNANIMOUS if min(n_pass, n_fail) == 0 else LabelSource.MAJORITY
    return Label(
        verdict=verdict,
        issue_ids=_majority_issues(votes) if verdict == FAIL else frozenset(),
        source=source,
        reason=f"{source} {verdict} ({tally})",
        n_pass=n_pass,
        n_fail=n_fail,
    )


def latest_votes(annotations: Iterable[Vote]) -> list[Vote]:
    """Each annotator's latest vote; on equal times the later one in the given order wins."""
    latest: dict[Hashable, Vote] = {}
    for vote in annotations:
        current = latest.get(vote.annotator_id)
        if current is None or vote.created_at >= current.created_at:
            latest[vote.annotator_id] = vote
    return list(latest.values())


def _majority_issues(votes: Sequence[Vote]) -> frozenset:
    failing = [v for v in votes if v.verdict == FAIL]
    named = Counter(issue for v in failing for issue in v.issue_ids)
    return frozenset(issue for issue, count in named.items() if 2 * count > len(failing))


def _check_verdict(verdict: str) -> None:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be 'pass' or 'fail', not {verdict!r}")
