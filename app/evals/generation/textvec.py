"""Word and character n-gram counts for a batch of texts, from a plain-string vocabulary.

Features are named by readable strings: "w:refund" (word), "w:refund within"
(word bigram), "c: ref" (character 3–5-gram inside a word padded with spaces,
like scikit-learn's char_wb). A fitted vocabulary is stored as these strings
in JSON, and the same code counts them at fit and at apply time.

Speed comes from working on the batch's *distinct* words: text is tokenised
once per document (a C-level regex), each distinct word is looked up once,
and its character n-grams are computed once, then spread over documents by a
sparse product (documents x words) @ (words x features). No Python loop runs
per n-gram occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
from scipy import sparse

WORD = re.compile(r"\w+")
CHAR_SIZES = (3, 4, 5)
# Character n-grams of very long "words" (ids, base64) say nothing more past this.
MAX_WORD_FOR_CHARS = 24
# Classifier text is cut to this many characters (head and tail) per document.
MAX_DOC_CHARS = 12_000


@dataclass
class Vocabulary:
    """Feature string -> column. A growing vocabulary adds what it meets (fit); a frozen one only looks up."""

    index: dict[str, int] = field(default_factory=dict)
    growing: bool = False
    _bigrams: list | None = field(default=None, repr=False)

    @classmethod
    def of(cls, features: list[str]) -> "Vocabulary":
        return cls({f: i for i, f in enumerate(features)})

    def __len__(self) -> int:
        return len(self.index)

    def column(self, feature: str) -> int:
        if self.growing:
            return self.index.setdefault(feature, len(self.index))
        return self.index.get(feature, -1)

    def bigrams(self) -> list[tuple[tuple[str, str], int]]:
        """The word bigrams as ((first, second), column), computed once per vocabulary."""
        if self._bigrams is None:
            self._bigrams = [
                (tuple(f[2:].split(" ")), c) for f, c in self.index.items() if f.startswith("w:") and " " in f
            ]
        return self._bigrams

    def features(self) -> list[str]:
        out = [""] * len(self.index)
        for feature, column in self.index.items():
            out[column] = feature
        return out


@dataclass(frozen=True)
class Tokens:
    """A tokenised batch: every word occurrence as (document, distinct-word id)."""

    n_docs: int
    doc: np.ndarray
    word: np.ndarray
    distinct: list[str]
    doc_words: sparse.csr_matrix  # documents x distinct words, counts


def clip(text: str, limit: int = MAX_DOC_CHARS) -> str:
    return text if len(text) <= limit else text[: limit // 2] + " " + text[-limit // 2 :]


def tokenise(texts: list[str]) -> Tokens:
    per_doc = [WORD.findall(clip(text).lower()) for text in texts]
    lengths = np.fromiter((len(t) for t in per_doc), dtype=np.int64, count=len(per_doc))
    # dict.fromkeys and map run in C: distinct words in first-seen order, then an id per occurrence.
    ids = {w: i for i, w in enumerate(dict.fromkeys(chain.from_iterable(per_doc)))}
    word = np.fromiter(map(ids.__getitem__, chain.from_iterable(per_doc)), dtype=np.int64, count=int(lengths.sum()))
    doc = np.repeat(np.arange(len(texts)), lengths)
    doc_words = sparse.csr_matrix(
        (np.ones(len(word), dtype=np.float32), (doc, word)), shape=(len(texts), max(len(ids), 1))
    )
    return Tokens(len(texts), doc, word, list(ids), doc_words)


def count_matrix(tokens: Tokens, vocabulary: Vocabulary, *, words: bool = True, chars: bool = True) -> sparse.csr_matrix:
    """Documents x vocabulary counts. A growing vocabulary is extended first, so columns cover it all."""
    parts = []
    if words:
        parts.append(_unigrams(tokens, vocabulary))
        parts.append(_bigrams(tokens, vocabulary))
    if chars:
        parts.append(_char_ngrams(tokens, vocabulary))
    shape = (tokens.n_docs, len(vocabulary))
    for part in parts:
        part.resize(shape)  # a growing vocabulary grew while the parts were counted
    return _sum(parts, shape)


def count_blocks(tokens: Tokens, unigrams: Vocabulary, bigrams: Vocabulary, chars: Vocabulary) -> sparse.csr_matrix:
    """Counts for a frozen vocabulary kept as three blocks (word unigrams | word bigrams | char n-grams).

    Each block's counts come out already summed, and side-by-side blocks stack
    without the sort that summing duplicates across one shared column space
    would need: the apply path's main saving.
    """
    blocks = [_unigrams(tokens, unigrams), _bigrams(tokens, bigrams), _char_ngrams(tokens, chars)]
    for block, vocabulary in zip(blocks, (unigrams, bigrams, chars)):
        block.resize((tokens.n_docs, len(vocabulary)))
    return sparse.hstack(blocks, format="csr")


def block_of(feature: str) -> int:
    """0 = word unigram, 1 = word bigram, 2 = char n-gram."""
    return 2 if feature[0] == "c" else (1 if " " in feature else 0)


def _sum(parts: list[sparse.csr_matrix], shape: tuple[int, int]) -> sparse.csr_matrix:
    """One COO build (duplicates summed once) instead of pairwise sparse additions."""
    coo = [p.tocoo() for p in parts]
    rows = np.concatenate([c.row for c in coo])
    cols = np.concatenate([c.col for c in coo])
    data = np.concatenate([c.data for c in coo]).astype(np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=shape)


def _unigrams(tokens: Tokens, vocabulary: Vocabulary) -> sparse.csr_matrix:
    columns = np.array([vocabulary.column("w:" + w) for w in tokens.distinct], dtype=np.int64)
    return _spread(tokens, columns, len(vocabulary))


def _spread(tokens: Tokens, column_of_word: np.ndarray, n_columns: int) -> sparse.csr_matrix:
    """(documents x words) @ (words x columns), where each word maps to at most one column."""
    kept = np.flatnonzero(column_of_word >= 0)
    mapping = sparse.csr_matrix(
        (np.ones(len(kept), dtype=np.float32), (kept, column_of_word[kept])),
        shape=(max(len(tokens.distinct), 1), max(n_columns, 1)),
    )
    return (tokens.doc_words @ mapping).tocsr()


def _bigrams(tokens: Tokens, vocabulary: Vocabulary) -> sparse.csr_matrix:
    if len(tokens.word) < 2:
        return sparse.csr_matrix((tokens.n_docs, max(len(vocabulary), 1)), dtype=np.float32)
    same_doc = tokens.doc[:-1] == tokens.doc[1:]
    n_distinct = np.int64(len(tokens.distinct))
    keys = tokens.word[:-1][same_doc] * n_distinct + tokens.word[1:][same_doc]
    docs = tokens.doc[:-1][same_doc]
    if vocabulary.growing:
        occurrence_columns = _name_new_bigrams(tokens, vocabulary, keys, n_distinct)
    else:
        occurrence_columns = _known_bigrams(tokens, vocabulary, keys, n_distinct)
    kept = occurrence_columns >= 0
    return sparse.csr_matrix(
        (np.ones(int(kept.sum()), dtype=np.float32), (docs[kept], occurrence_columns[kept])),
        shape=(tokens.n_docs, max(len(vocabulary), 1)),
    )


def _name_new_bigrams(tokens: Tokens, vocabulary: Vocabulary, keys: np.ndarray, n_distinct: np.int64) -> np.ndarray:
    """At fit time: name every distinct bigram of the batch once and add it."""
    distinct_keys, inverse = np.unique(keys, return_inverse=True)
    first, second = np.divmod(distinct_keys, n_distinct)
    names = tokens.distinct
    columns = np.array(
        [vocabulary.column(f"w:{names[a]} {names[b]}") for a, b in zip(first.tolist(), second.tolist())],
        dtype=np.int64,
    )
    return columns[inverse] if len(columns) else np.zeros(0, dtype=np.int64)


def _known_bigrams(tokens: Tokens, vocabulary: Vocabulary, keys: np.ndarray, n_distinct: np.int64) -> np.ndarray:
    """At apply time: turn the vocabulary's bigrams into the batch's word-pair keys, then search them."""
    word_id = {w: i for i, w in enumerate(tokens.distinct)}
    wanted_keys, wanted_columns = [], []
    for feature, column in vocabulary.bigrams():
        first, second = word_id.get(feature[0]), word_id.get(feature[1])
        if first is not None and second is not None:
            wanted_keys.append(first * int(n_distinct) + second)
            wanted_columns.append(column)
    if not wanted_keys:
        return np.full(len(keys), -1, dtype=np.int64)
    order = np.argsort(wanted_keys)
    sorted_keys = np.asarray(wanted_keys, dtype=np.int64)[order]
    sorted_columns = np.asarray(wanted_columns, dtype=np.int64)[order]
    position = np.clip(np.searchsorted(sorted_keys, keys), 0, len(sorted_keys) - 1)
    return np.where(sorted_keys[position] == keys, sorted_columns[position], -1)


def char_grams(word: str) -> list[str]:
    padded = f" {word[:MAX_WORD_FOR_CHARS]} "
    return [padded[i : i + n] for n in CHAR_SIZES for i in range(len(padded) - n + 1)]


def _char_ngrams(tokens: Tokens, vocabulary: Vocabulary) -> sparse.csr_matrix:
    rows, columns = [], []
    for word_id, word in enumerate(tokens.distinct):
        for gram in char_grams(word):
            column = vocabulary.column("c:" + gram)
            if column >= 0:
                rows.append(word_id)
                columns.append(column)
    word_features = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, columns)),
        shape=(max(len(tokens.distinct), 1), max(len(vocabulary), 1)),
    )
    return (tokens.doc_words @ word_features).tocsr()
