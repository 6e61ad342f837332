"""The whole population's word and n-gram counts, from one tokenisation per round.

Every per-agent lexical measure (distinct-n, entropy, type-token and hapax ratios, unique
n-grams, tail mass, coverage, novel n-grams, neologisms) is a sum over one agent's counts;
``PopulationCounts`` holds them for all agents at once as sparse ``agents x n-grams``
matrices (``divergence._count``: columns are the distinct n-grams of the round in order of
first appearance), so a measure is a few vectorised operations, never a Python loop over
tokens or agents. ``RoundRecord.counts`` builds it once per round and every measure shares it.

The functions here give exactly (bit for bit) the numbers of the per-agent reference
functions (``text.doc_metrics``, ``measures.lexical.lexicon_row``): sums of integer counts
are exact in float64; the entropy is summed per agent in the reference's order (the order
in which the agent first said each word, left to right, with ``math.log``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from society.metrics.distribution import zipf_exponents
from society.metrics.divergence import _count, _flatten

Doc = Sequence[Sequence[str]]

#: N-gram orders counted for every agent.
ORDERS = (1, 2, 3)

#: Padded cells (agents x word types) summed at once by ``ordered_sums``.
CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class PopulationCounts:
    """Every agent's counts in one round.

    Attributes:
        words: the word of each unigram column (object array).
        counts: per order in ``ORDERS``, the ``(agents, distinct n-grams)`` CSR counts.
        grams: per order, the ``(columns, n)`` word ids (columns of ``words``) of each
            n-gram column.
        texts: texts per agent.
        entry_row: agent of each (agent, word type) entry, entries in reference order
            (by agent, then by where the agent first said the word).
        entry_word: word id of each entry.
        entry_count: how often the agent said the word.
    """

    words: np.ndarray
    counts: dict[int, sparse.csr_matrix]
    grams: dict[int, np.ndarray]
    texts: np.ndarray
    entry_row: np.ndarray
    entry_word: np.ndarray
    entry_count: np.ndarray
    _names: dict[int, list[tuple[str, ...]]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, docs: Sequence[Doc]) -> PopulationCounts:
        """Count every agent's n-grams of every order in ``ORDERS``, tokens flattened once.

        Args:
            docs: one document (a list of token lists) per agent, in agent order.

        Returns:
            The counts.
        """
        tokens = _flatten(docs)
        counts, grams = {}, {}
        for n in ORDERS:
            matrix, starts, col = _count(tokens, n)
            counts[n] = matrix
            grams[n] = tokens.ids[starts[first_occurrences(col)][:, None] + np.arange(n)]
        n_words = max(len(tokens.words), 1)
        row = tokens.doc_of_text[tokens.text_of] if len(tokens.ids) else tokens.ids
        # tokens run agent by agent, so numbering (agent, word) keys in order of first
        # appearance orders them by agent, then by the agent's first use of the word
        codes, keys = pd.factorize(row * n_words + tokens.ids, sort=False)
        keys = np.asarray(keys, dtype=np.int64)
        return cls(
            words=tokens.words,
            counts=counts,
            grams=grams,
            texts=np.asarray([len(doc) for doc in docs], dtype=np.int64),
            entry_row=keys // n_words,
            entry_word=keys % n_words,
            entry_count=np.bincount(codes, minlength=len(keys)),
        )

    @property
    def agents(self) -> int:
        """Number of agents (rows)."""
        return len(self.texts)

    def tokens(self) -> np.ndarray:
        """Word tokens per agent (int)."""
        return np.bincount(self.entry_row, self.entry_count, self.agents).astype(np.int64)

    def types(self) -> np.ndarray:
        """Word types per agent (int)."""
        return np.bincount(self.entry_row, minlength=self.agents)

    def total(self, n: int) -> np.ndarray:
        """N-gram occurrences per agent (float, exact)."""
        return np.asarray(self.counts[n].sum(axis=1)).ravel()

    def unique(self, n: int) -> np.ndarray:
        """Distinct n-grams per agent (int)."""
        return np.diff(self.counts[n].indptr)

    def per_agent(self, word_mask: np.ndarray) -> np.ndarray:
        """Word tokens per agent whose word is in ``word_mask`` (a bool per word id)."""
        weights = self.entry_count * word_mask[self.entry_word]
        return np.bincount(self.entry_row, weights, self.agents)

    def types_in(self, word_mask: np.ndarray) -> np.ndarray:
        """Word types per agent in ``word_mask``."""
        return np.bincount(self.entry_row, word_mask[self.entry_word], self.agents)

    def word_mask(self, words: frozenset[str] | set[str]) -> np.ndarray:
        """Which word ids are in ``words`` (a hashed lookup per word type, not per token)."""
        return np.asarray(pd.Index(self.words).isin(list(words)), dtype=bool)

    def names(self, n: int) -> list[tuple[str, ...]]:
        """The n-gram (a tuple of words) of each column of ``counts[n]``."""
        if n not in self._names:
            self._names[n] = [tuple(g) for g in self.words[self.grams[n]].tolist()]
        return self._names[n]

    def entropy(self) -> np.ndarray:
        """Unigram entropy (nats) per agent, exactly as ``text.doc_metrics`` sums it."""
        total = self.tokens()
        if not len(self.entry_row):
            return np.zeros(self.agents)
        p = self.entry_count / total[self.entry_row]
        values, inverse = np.unique(p, return_inverse=True)
        logs = np.fromiter(map(math.log, values.tolist()), dtype=float, count=len(values))
        return -ordered_sums(p * logs[inverse], self.entry_row, self.agents)

    def zipf(self) -> np.ndarray:
        """``distribution.zipf_exponent`` of every agent's word counts, fitted together."""
        bounds = np.searchsorted(self.entry_row, np.arange(self.agents + 1))
        counts = self.entry_count.astype(float)
        return zipf_exponents([counts[bounds[a] : bounds[a + 1]] for a in range(self.agents)])


def first_occurrences(col: np.ndarray) -> np.ndarray:
    """Where each value of ``col`` first occurs, given values first occur as 0, 1, 2, ...

    ``pd.factorize`` numbers values in order of first appearance, so a new value is one
    above every value before it: one pass, no sort.

    Args:
        col: factorised codes.

    Returns:
        ``first[c]``: the first position of value ``c``.
    """
    if not len(col):
        return np.zeros(0, dtype=np.int64)
    before = np.maximum.accumulate(col)
    return np.flatnonzero(np.concatenate([[True], col[1:] > before[:-1]]))


def ordered_sums(values: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Per row, the left-to-right float sum of its values (Python's ``sum``, bit for bit).

    ``rows`` must be sorted; each row's values are summed in the order given, so the result
    equals ``sum(values_of_row)``, which pairwise summation (``np.add.reduceat``) does not.

    Args:
        values: the values, grouped by row.
        rows: the row of each value (non-decreasing).
        n_rows: number of rows (rows with no value sum to 0.0).

    Returns:
        One sum per row.
    """
    out = np.zeros(n_rows)
    if not len(values):
        return out
    starts = np.searchsorted(rows, np.arange(n_rows + 1))
    sizes = np.diff(starts)
    width = max(int(sizes.max()), 1)
    step = max(CHUNK_CELLS // width, 1)
    for lo in range(0, n_rows, step):
        hi = min(lo + step, n_rows)
        block = np.zeros((hi - lo, width))
        at = slice(starts[lo], starts[hi])
        position = np.arange(starts[lo], starts[hi]) - starts[rows[at]]
        block[rows[at] - lo, position] = values[at]
        out[lo:hi] = np.cumsum(block, axis=1)[:, -1]  # accumulate is sequential
    return out


def ngram_keys(grams: np.ndarray, base: int) -> np.ndarray | None:
    """Fold rows of word ids into one int64 key each (None if ``base**n`` overflows).

    Args:
        grams: ``(k, n)`` word ids in ``0..base-1``.
        base: number of word ids.

    Returns:
        The keys, or None when they would not fit in an int64.
    """
    n = grams.shape[1]
    if base**n >= 2**63:
        return None
    keys = np.zeros(len(grams), dtype=np.int64)
    for k in range(n):
        keys = keys * base + grams[:, k]
    return keys


def index_of(words: frozenset[str]) -> pd.Index:
    """A sorted index of a word set (ids for ``ngram_keys``)."""
    return pd.Index(sorted(words))
