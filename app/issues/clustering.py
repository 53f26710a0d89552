"""Suggestions from unassigned failures: group similar critiques, and match them to known issues.

Input: failed annotations that name no issue (their feedback, and the trace's output) and
the project's issues (title + description, the definition an annotator applies). Output:
"7 failures look like <issue>" (kind ``match``) and "new cluster: <label>" (kind ``new``)
suggestions for a person to accept or dismiss. Pure and deterministic (seeded); no
external service.

Method
======
1. **Vectors.** TF-IDF with word 1-2-grams, sublinear tf and English stop words —
   except negations ("not", "no", "never", ...), which carry the meaning of critiques
   such as "does not mention" (on TofuEval keeping them raised the ARI). Two
   vectorisers:

   - *feedback*, fitted on the failures' feedback and the issues' definitions together,
     so that both live in one space;
   - *output*, fitted on the traces' outputs.

   The clustering representation is ``[feedback ; output_weight * output]``, L2-normalised.
   The output gets a lower weight (0.3): the critique says what went wrong, the output
   mostly says what the conversation was about.
2. **LSA.** TruncatedSVD to at most ``lsa_components`` dimensions, re-normalised. It
   merges co-occurring terms (near-synonyms of one critique), drops noise and gives a
   small dense matrix for step 3. Solved with ARPACK: deterministic for a given seed,
   and faster than the randomised solver at these sizes.
3. **Agglomerative clustering**, average linkage on cosine distance, cut at
   ``distance_threshold``. Chosen over KMeans because the number of failure modes is
   unknown: a distance cut means "this similar" whatever the number of failures,
   whereas choosing k by silhouette is unreliable on short texts (on TofuEval silhouette
   stayed at 0.05-0.1 and kept rising with k). Average linkage sits between single
   linkage (chains unrelated critiques) and complete linkage (shatters clusters). The
   distance matrix is O(n^2): ~36 MB for 3,000 failures.
4. **Labels**: the cluster's top terms by lift over the whole set (mean TF-IDF in the
   cluster minus mean TF-IDF overall), feedback only.
5. **Matching**: cosine similarity, in the feedback TF-IDF space, between a cluster's
   centroid and each issue's definition; the best issue at or above ``match_threshold``
   takes the whole cluster. Clusters matching nothing become ``new`` suggestions if they
   have at least ``min_cluster_size`` members; the failures of smaller ones are matched one
   by one. Matches to the same issue are merged into one suggestion.

Cost: about 2 s for 3,000 failures on 2 cores with single-threaded BLAS
(``OMP_NUM_THREADS=1``); on a loaded machine multithreaded BLAS measured several times
slower, so the worker should run with one BLAS thread.

Scores: for ``match``, the cosine similarity between the issue and the centroid of all
its suggested failures; for ``new``, the cluster's cohesion (mean cosine similarity of its
members to their centroid, in LSA space). Suggestions come largest first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.preprocessing import normalize

NEGATIONS = frozenset({"not", "no", "nor", "never", "none", "nothing", "neither", "cannot", "without"})
STOP_WORDS = sorted(ENGLISH_STOP_WORDS - NEGATIONS)


@dataclass(frozen=True)
class Failure:
    id: Hashable
    feedback: str
    output: str = ""


@dataclass(frozen=True)
class IssueDef:
    id: Hashable
    title: str
    description: str = ""


@dataclass(frozen=True)
class Cluster:
    member_ids: tuple
    label: str
    cohesion: float


@dataclass(frozen=True)
class Suggestion:
    kind: Literal["match", "new"]
    issue_id: Hashable | None
    label: str
    member_ids: tuple
    score: float


@dataclass(frozen=True)
class _Vectors:
    feedback: sparse.csr_matrix  # failures x feedback terms, rows L2-normalised
    issues: sparse.csr_matrix  # issues x feedback terms, rows L2-normalised
    terms: np.ndarray
    embedding: np.ndarray  # failures x LSA dimensions, rows L2-normalised (zero rows: no text)


def cluster_failures(
    failures: Sequence[Failure],
    *,
    output_weight: float = 0.3,
    lsa_components: int = 100,
    distance_threshold: float = 0.9,
    label_terms: int = 4,
    seed: int = 0,
) -> list[Cluster]:
    """Every failure in exactly one cluster (singletons included), largest first."""
    if not failures:
        return []
    vectors = _vectorise(failures, [], output_weight, lsa_components, seed)
    return [
        _cluster_of(failures, vectors, members, label_terms)
        for members in _clusters(vectors.embedding, distance_threshold)
    ]


def suggest(
    failures: Sequence[Failure],
    issues: Sequence[IssueDef],
    *,
    match_threshold: float = 0.15,
    min_cluster_size: int = 3,
    output_weight: float = 0.3,
    lsa_components: int = 100,
    distance_threshold: float = 0.9,
    label_terms: int = 4,
    seed: int = 0,
) -> list[Suggestion]:
    """"N failures look like <issue>" and "new cluster: <label>" suggestions, largest first."""
    if not failures:
        return []
    vectors = _vectorise(failures, issues, output_weight, lsa_components, seed)
    clusters = _clusters(vectors.embedding, distance_threshold)
    matched, new_clusters = _assign(vectors, clusters, match_threshold, min_cluster_size)
    suggestions = [_match_suggestion(failures, issues, vectors, i, m) for i, m in matched.items()]
    suggestions += [_new_suggestion(failures, vectors, m, label_terms) for m in new_clusters]
    return sorted(suggestions, key=lambda s: (-len(s.member_ids), -s.score))


# --- vectors -------------------------------------------------------------------------


def _vectorise(
    failures: Sequence[Failure],
    issues: Sequence[IssueDef],
    output_weight: float,
    lsa_components: int,
    seed: int,
) -> _Vectors:
    definitions = [f"{issue.title}. {issue.description}" for issue in issues]
    texts, terms = _tfidf([f.feedback for f in failures] + definitions)
    feedback, issue_rows = texts[: len(failures)], texts[len(failures) :]
    outputs, _ = _tfidf([f.output for f in failures])
    combined = normalize(sparse.hstack([feedback, output_weight * outputs]).tocsr())
    return _Vectors(feedback, issue_rows, terms, _lsa(combined, lsa_components, seed))


def _tfidf(texts: list[str]) -> tuple[sparse.csr_matrix, np.ndarray]:
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words=STOP_WORDS)
    try:
        return vectorizer.fit_transform(texts).tocsr(), vectorizer.get_feature_names_out()
    except ValueError as error:
        if "empty vocabulary" not in str(error):
            raise
        # Every text is empty or stop words only: there is nothing to compare.
        return sparse.csr_matrix((len(texts), 0)), np.array([], dtype=object)


def _lsa(matrix: sparse.csr_matrix, max_components: int, seed: int) -> np.ndarray:
    n_components = min(max_components, matrix.shape[0] - 1, matrix.shape[1] - 1)
    if n_components < 2:
        # Too few failures or terms for a decomposition; the raw vectors are tiny anyway.
        return normalize(matrix).toarray()
    svd = TruncatedSVD(n_components, algorithm="arpack", random_state=seed)
    return normalize(svd.fit_transform(matrix))


# --- clusters ------------------------------------------------------------------------


def _clusters(embedding: np.ndarray, distance_threshold: float) -> list[list[int]]:
    """Lists of row indices, largest first; rows without any text are singletons."""
    norms = np.linalg.norm(embedding, axis=1)
    has_text = np.flatnonzero(norms > 0)
    # Cosine distance is undefined for an all-zero vector.
    groups = [[int(i)] for i in np.flatnonzero(norms == 0)]
    if len(has_text) == 1:
        groups.append([int(has_text[0])])
    elif len(has_text) > 1:
        labels = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance_threshold
        ).fit_predict(embedding[has_text])
        by_label: defaultdict[int, list[int]] = defaultdict(list)
        for row, label in zip(has_text, labels):
            by_label[label].append(int(row))
        groups += by_label.values()
    return sorted(groups, key=lambda members: (-len(members), members[0]))


def _cluster_of(
    failures: Sequence[Failure], vectors: _Vectors, members: list[int], label_terms: int
) -> Cluster:
    return Cluster(
        member_ids=tuple(failures[m].id for m in members),
        label=_label(vectors, members, label_terms),
        cohesion=_cohesion(vectors.embedding[members]),
    )


def _label(vectors: _Vectors, members: list[int], n_terms: int) -> str:
    if not len(vectors.terms):
        return "(no text)"
    lift = np.asarray(vectors.feedback[members].mean(axis=0) - vectors.feedback.mean(axis=0)).ravel()
    chosen: list[str] = []
    for index in np.argsort(-lift, kind="stable"):
        if len(chosen) == n_terms or lift[index] <= 0:
            break
        term = vectors.terms[index]
        # One term per word: "not mentioned, mentioned document, mentioned text" says little.
        if not set(term.split()) & {word for c in chosen for word in c.split()}:
            chosen.append(term)
    return ", ".join(chosen) or "(no distinctive terms)"


def _cohesion(rows: np.ndarray) -> float:
    centroid = rows.mean(axis=0)
    norm = np.linalg.norm(centroid)
    return float((rows @ centroid).mean() / norm) if norm else 0.0


# --- matching ------------------------------------------------------------------------


def _issue_similarities(vectors: _Vectors, members: list[int]) -> np.ndarray:
    centroid = normalize(np.asarray(vectors.feedback[members].mean(axis=0)))
    return np.asarray(vectors.issues @ centroid.T).ravel()


def _assign(
    vectors: _Vectors, clusters: list[list[int]], threshold: float, min_cluster_size: int
) -> tuple[dict[int, list[int]], list[list[int]]]:
    """Failures matched per issue index, and the unmatched clusters large enough to propose."""
    matched: defaultdict[int, list[int]] = defaultdict(list)
    new_clusters: list[list[int]] = []
    for members in clusters:
        issue = _best_issue(vectors, members, threshold)
        if issue is not None:
            matched[issue] += members
        elif len(members) >= min_cluster_size:
            new_clusters.append(members)
        else:
            for member in members:
                issue = _best_issue(vectors, [member], threshold)
                if issue is not None:
                    matched[issue].append(member)
    return matched, new_clusters


def _best_issue(vectors: _Vectors, members: list[int], threshold: float) -> int | None:
    if vectors.issues.shape[0] == 0:
        return None
    similarities = _issue_similarities(vectors, members)
    best = int(np.argmax(similarities))
    return best if similarities[best] >= threshold else None


def _match_suggestion(
    failures: Sequence[Failure], issues: Sequence[IssueDef], vectors: _Vectors, issue: int, members: list[int]
) -> Suggestion:
    members = sorted(members)
    return Suggestion(
        kind="match",
        issue_id=issues[issue].id,
        label=issues[issue].title,
        member_ids=tuple(failures[m].id for m in members),
        score=float(_issue_similarities(vectors, members)[issue]),
    )


def _new_suggestion(
    failures: Sequence[Failure], vectors: _Vectors, members: list[int], label_terms: int
) -> Suggestion:
    cluster = _cluster_of(failures, vectors, members, label_terms)
    return Suggestion("new", None, cluster.label, cluster.member_ids, cluster.cohesion)
