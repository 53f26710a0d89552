"""Per-search caches: what every candidate and fold would otherwise recompute.

A workspace holds the examples a search may see (the training split, or all
examples for the final refit) and computes each representation once: field
texts, structural facts, word n-gram presence for rule mining, and n-gram
counts for the classifier. Representations here are label-free; everything
that looks at labels (mining, selection, thresholds) happens per fold, on the
fold's training rows only.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from . import textvec
from .examples import Example, field_texts
from .facts import Facts, facts_of

_NUMBER = re.compile(r"\b\d+\b")
MAX_RULE_NGRAM = 3


def rule_preprocess(text: str) -> str:
    """Lower case and one token for every number, so mined phrases generalise over amounts and ids."""
    return _NUMBER.sub("0", text.lower())


def phrase_penalty(phrase: str) -> int:
    """Order among phrases that separate the labels equally well: shorter phrases read better and
    generalise more; phrases of function words alone ("a", "of the") or of numbers alone say little."""
    words = phrase.split()
    if all(w == "0" for w in words):
        return len(phrase) + 100
    if all(w in ENGLISH_STOP_WORDS or w == "0" for w in words):
        return len(phrase) + 50
    return len(phrase)


# Views a classifier can read: which fields go into its text.
CLASSIFIER_VIEWS = {
    "output": ("output",),
    "input_output": ("input", "output"),
    "full": ("conversation", "tool_calls"),
}


def view_texts(examples: list[Example], view: str) -> list[str]:
    fields = CLASSIFIER_VIEWS[view]
    columns = [field_texts(examples, f) for f in fields]
    return ["\n".join(parts) for parts in zip(*columns)]


class Workspace:
    def __init__(self, examples: list[Example]):
        self.examples = examples
        self.actual_fail = np.array([e.is_fail for e in examples], dtype=bool)
        self.groups = [e.group_key for e in examples]
        self._texts: dict[str, list[str]] = {}
        self._presence: dict[str, tuple[sparse.csr_matrix, list[str], np.ndarray]] = {}
        self._counts: dict[str, tuple[sparse.csr_matrix, list[str]]] = {}
        self._column_index: dict[str, dict[str, int]] = {}

    def __len__(self) -> int:
        return len(self.examples)

    def texts(self, field: str) -> list[str]:
        if field not in self._texts:
            self._texts[field] = field_texts(self.examples, field)
        return self._texts[field]

    def filled_share(self, field: str) -> float:
        texts = self.texts(field)
        return sum(bool(t.strip()) for t in texts) / max(len(texts), 1)

    @cached_property
    def facts(self) -> list[Facts]:
        return [facts_of(e) for e in self.examples]

    def presence(self, field: str) -> tuple[sparse.csr_matrix, list[str], np.ndarray]:
        """Binary documents x word 1–3-grams of a field (numbers as one token), the n-grams, and
        their order among equally good candidates (shorter first; numbers alone last)."""
        if field not in self._presence:
            vectorizer = CountVectorizer(
                binary=True,
                preprocessor=rule_preprocess,
                token_pattern=r"(?u)\b\w+\b",
                ngram_range=(1, MAX_RULE_NGRAM),
                min_df=2,
                dtype=np.float32,
            )
            try:
                matrix = vectorizer.fit_transform(self.texts(field))
                names = list(vectorizer.get_feature_names_out())
            except ValueError:  # no n-gram in two documents: nothing to mine
                matrix, names = sparse.csr_matrix((len(self), 0), dtype=np.float32), []
            penalty = np.array([phrase_penalty(n) for n in names])
            self._presence[field] = (matrix.tocsr(), names, penalty)
        return self._presence[field]

    def counts(self, view: str) -> tuple[sparse.csr_matrix, list[str]]:
        """Documents x every word/char n-gram of a classifier view (the classifier picks columns per fold)."""
        if view not in self._counts:
            vocabulary = textvec.Vocabulary(growing=True)
            matrix = textvec.count_matrix(textvec.tokenise(view_texts(self.examples, view)), vocabulary)
            self._counts[view] = (matrix.tocsr(), vocabulary.features())
        return self._counts[view]

    def column_index(self, view: str) -> dict[str, int]:
        if view not in self._column_index:
            self._column_index[view] = {f: i for i, f in enumerate(self.counts(view)[1])}
        return self._column_index[view]
