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
from society.metrics.divergence import AgentTokens, _count, _flatten, count_matrix, ngram_starts

Doc = Sequence[Sequence[str]]

#: N-gram orders counted for every agent.
ORDERS = (1, 2, 3)

#: Padded cells (agents x word types) summed at once by ``ordered_sums``.
CHUNK_CELLS = 4_000_000

#: Tokens counted at once by ``PopulationCounts.of`` (whole agents; at least one).
CHUNK_TOKENS = 2_000_000
#: Keys turned back into word ids at once by ``_digits``.
DIGITS_BLOCK = 1 << 20


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
            (by agent, then by where the agent first said the word); entries are int32
            where they fit.
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
    flat: AgentTokens | None = field(default=None, repr=False)
    """The agents' texts as word ids (kept when the round was counted in one chunk)."""

    @classmethod
    def of(cls, docs: Sequence[Doc]) -> PopulationCounts:
        """Count every agent's n-grams of every order in ``ORDERS``.

        Agents are counted in chunks of about :data:`CHUNK_TOKENS` tokens, so the round's
        transient arrays stay a chunk's size (at 10,000 agents a whole round's would be
        GBs): each chunk's n-grams are keyed by global word ids and numbered in the chunk's
        order of first appearance, and :func:`number_keys` numbers the chunks' distinct
        keys, chunk after chunk, in the population's order of first appearance. The
        matrices, columns and entries equal :meth:`of_all`'s (tested); when ``words ** 3``
        keys would overflow int64, :meth:`of_all` counts them.

        Args:
            docs: one document (a list of token lists) per agent, in agent order.

        Returns:
            The counts.
        """
        chunks, word_id, flat = [], {}, None
        ranges = _agent_chunks(docs, CHUNK_TOKENS)
        texts = np.asarray([len(doc) for doc in docs], dtype=np.int64)
        words = np.empty(0, dtype=object)
        for lo, hi in ranges:
            tokens = _flatten(docs[lo:hi])
            if len(ranges) == 1:  # one chunk: its word ids are the population's
                ids, words = tokens.ids, tokens.words
            else:
                known = (word_id.setdefault(w, len(word_id)) for w in tokens.words)
                glossary = np.fromiter(known, dtype=np.int64, count=len(tokens.words))
                ids = glossary[tokens.ids] if len(tokens.ids) else tokens.ids
            small = {"ids": ids.astype(np.int32), "text_of": tokens.text_of.astype(np.int32)}
            if len(ranges) == 1:
                lengths = np.bincount(tokens.text_of, minlength=len(tokens.doc_of_text))
                flat = AgentTokens(small["ids"], lengths, texts)
            chunks.append((lo, tokens._replace(words=None, **small)))  # kept till counted
        if word_id:
            words = np.empty(len(word_id), dtype=object)
            words[:] = list(word_id)
        n_words = max(len(words), 1)
        overflow = ngram_keys(np.zeros((0, max(ORDERS)), dtype=np.int64), n_words) is None
        if overflow or not chunks:
            return cls.of_all(docs)
        entries = [_chunk_entries(lo, tokens, n_words) for lo, tokens in chunks]
        keys = np.concatenate([k for k, _ in entries])
        entry_row, entry_word, entry_count = _entries(
            keys, np.concatenate([c for _, c in entries]), n_words
        )
        del entries, keys
        # Unigram columns are the words themselves (both numbered by first appearance).
        counts = {1: _unigrams(entry_row, entry_word, entry_count, len(docs), len(words))}
        grams = {1: np.arange(len(words), dtype=np.int32)[:, None]}
        for n in ORDERS[1:]:
            parts = [_chunk_ngrams(tokens, n, n_words) for _, tokens in chunks]
            matrices, chunk_keys = [m for m, _ in parts], [k for _, k in parts]
            del parts  # its pairs would keep every matrix alive through the stack
            if n == ORDERS[-1]:
                del chunks  # the tokens are counted: released before the last stack
            if len(matrices) == 1:  # one chunk: its columns are already the population's
                counts[n], keys = matrices[0], chunk_keys[0]
            else:
                widths = [len(k) for k in chunk_keys]
                codes, keys = number_keys(chunk_keys)
                counts[n] = _stack(matrices, widths, codes, len(keys))  # releases the matrices
                del codes
            del matrices, chunk_keys
            grams[n] = _digits(np.asarray(keys, dtype=np.int64), n, n_words)
            del keys
        return cls(
            words=words,
            counts=counts,
            grams=grams,
            texts=texts,
            entry_row=entry_row,
            entry_word=entry_word,
            entry_count=entry_count,
            flat=flat,
        )

    @classmethod
    def of_all(cls, docs: Sequence[Doc]) -> PopulationCounts:
        """:meth:`of` in one pass over all tokens (its reference, and the overflow path)."""
        tokens = _flatten(docs)
        counts, grams = {}, {}
        for n in ORDERS:
            matrix, starts, col = _count(tokens, n)
            counts[n] = matrix
            at = starts[first_occurrences(col)][:, None] + np.arange(n)
            grams[n] = tokens.ids[at].astype(np.int32)
        n_words = max(len(tokens.words), 1)
        entry_row, entry_word, entry_count = _entries(*_chunk_entries(0, tokens, n_words), n_words)
        return cls(
            words=tokens.words,
            counts=counts,
            grams=grams,
            texts=np.asarray([len(doc) for doc in docs], dtype=np.int64),
            entry_row=entry_row,
            entry_word=entry_word,
            entry_count=entry_count,
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


def number_keys(chunk_keys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Number distinct keys in order of first appearance, chunk after chunk.

    ``pd.factorize`` of the chunks' keys concatenated, without its hash table over every
    chunk's keys (at 10,000 agents about 0.7 GB for the trigrams): a sorted table of the
    keys seen so far, with their numbers, is searched for each chunk's keys and the new
    ones are merged in (tested against ``pd.factorize``).

    Args:
        chunk_keys: each chunk's keys (int64), distinct within the chunk.

    Returns:
        ``(codes, keys)``: the number of every key, chunk after chunk (int32 where they
        fit), and the keys by number.
    """
    seen = np.empty(0, dtype=np.int64)  # sorted keys so far
    total = sum(len(keys) for keys in chunk_keys)
    dtype = np.int32 if total <= np.iinfo(np.int32).max else np.int64
    seen_code = np.empty(0, dtype=dtype)  # and their numbers
    codes, fresh_keys, known = [], [], 0
    for keys in chunk_keys:
        keys = np.asarray(keys, dtype=np.int64)
        order = np.argsort(keys)  # sorted queries keep the searches cache-friendly
        ordered = keys[order]
        at = np.searchsorted(seen, ordered)
        found = at < len(seen)
        found[found] = seen[at[found]] == ordered[found]
        code = np.empty(len(keys), dtype=dtype)
        code[order[found]] = seen_code[at[found]]
        new = order[~found]  # the new keys' positions, by key
        is_new = np.zeros(len(keys), dtype=bool)
        is_new[new] = True
        fresh = np.flatnonzero(is_new)  # the same positions in the chunk's order
        code[fresh] = known + np.arange(len(fresh))
        known += len(fresh)
        seen_code = np.insert(seen_code, at[~found], code[new])
        seen = np.insert(seen, at[~found], ordered[~found])
        codes.append(code)
        fresh_keys.append(keys[fresh])
    if not codes:
        return np.empty(0, dtype=dtype), np.empty(0, dtype=np.int64)
    return np.concatenate(codes), np.concatenate(fresh_keys)


def index_of(words: frozenset[str]) -> pd.Index:
    """A sorted index of a word set (ids for ``ngram_keys``)."""
    return pd.Index(sorted(words))


def _agent_chunks(docs: Sequence[Doc], tokens: int) -> list[tuple[int, int]]:
    """Consecutive ``(lo, hi)`` agent ranges of about ``tokens`` tokens (one agent at least)."""
    sizes = np.fromiter((sum(map(len, doc)) for doc in docs), dtype=np.int64, count=len(docs))
    ends = np.cumsum(sizes)
    out, lo = [], 0
    while lo < len(docs):
        before = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, before + tokens, side="right")), lo + 1)
        out.append((lo, hi))
        lo = hi
    return out


def _chunk_ngrams(tokens, n: int, n_words: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """A chunk's ``(its agents, its distinct n-grams)`` counts, and each column's key.

    Columns are numbered in the chunk's order of first appearance; keys are
    :func:`ngram_keys` of global word ids.
    """
    starts = ngram_starts(tokens, n)
    keys = ngram_keys(tokens.ids[starts[:, None] + np.arange(n)], n_words)
    col, local = pd.factorize(keys, sort=False)
    return count_matrix(tokens, starts, col, len(local)), np.asarray(local, dtype=np.int64)


def _chunk_entries(lo: int, tokens, n_words: int) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's (agent, word) keys in order of first appearance, and their counts.

    Tokens run agent by agent, so numbering (agent, word) keys in order of first appearance
    orders them by agent, then by the agent's first use of the word.
    """
    row = lo + tokens.doc_of_text[tokens.text_of] if len(tokens.ids) else tokens.ids
    codes, keys = pd.factorize(row * n_words + tokens.ids, sort=False)
    return np.asarray(keys, dtype=np.int64), np.bincount(codes, minlength=len(keys))


def _entries(
    keys: np.ndarray, counts: np.ndarray, n_words: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Agent, word and count of each (agent, word) key, in int32 where they fit."""
    rows, words = keys // n_words, keys % n_words
    small = np.iinfo(np.int32).max
    if max(rows.max(initial=0), n_words, counts.max(initial=0)) <= small:
        return rows.astype(np.int32), words.astype(np.int32), counts.astype(np.int32)
    return rows, words, counts


def _unigrams(
    rows: np.ndarray, words: np.ndarray, counts: np.ndarray, agents: int, n_words: int
) -> sparse.csr_matrix:
    """The ``(agents, words)`` unigram counts from the (agent, word) entries."""
    matrix = sparse.csr_matrix(
        (counts.astype(np.float64), (rows, words)), shape=(agents, n_words), dtype=np.float64
    )
    matrix.sum_duplicates()
    return matrix


def _stack(
    parts: list[sparse.csr_matrix], widths: list[int], codes: np.ndarray, columns: int
) -> sparse.csr_matrix:
    """The chunks' matrices, their local columns renumbered by ``codes``, as one matrix.

    Written into arrays of the final size (a chunk's matrix is released once copied), with
    each row's columns sorted, as a one-pass build gives them.

    Args:
        parts: each chunk's ``(its agents, its columns)`` counts (emptied here).
        widths: each chunk's number of columns (its slice of ``codes``).
        codes: the global column of every chunk's column, chunk after chunk.
        columns: number of global columns.
    """
    rows = sum(m.shape[0] for m in parts)
    nnz = sum(m.nnz for m in parts)
    dtype = np.int32 if max(nnz, columns, rows) <= np.iinfo(np.int32).max else np.int64
    data, indices = np.empty(nnz), np.empty(nnz, dtype=dtype)
    indptr = np.zeros(rows + 1, dtype=dtype)
    row = at = offset = 0
    for k, width in enumerate(widths):
        matrix, parts[k] = parts[k], None
        block = sparse.csr_matrix(
            (matrix.data, codes[offset + matrix.indices].astype(dtype), matrix.indptr),
            shape=(matrix.shape[0], columns),
        )
        block.has_sorted_indices = False
        block.sort_indices()
        data[at : at + block.nnz], indices[at : at + block.nnz] = block.data, block.indices
        indptr[row + 1 : row + block.shape[0] + 1] = block.indptr[1:] + at
        row, at, offset = row + block.shape[0], at + block.nnz, offset + width
    return sparse.csr_matrix((data, indices, indptr), shape=(rows, columns))


def _digits(keys: np.ndarray, n: int, base: int) -> np.ndarray:
    """``(len(keys), n)`` word ids of :func:`ngram_keys` ``keys`` (its inverse)."""
    out = np.empty((len(keys), n), dtype=np.int32)
    for lo in range(0, len(keys), DIGITS_BLOCK):  # blocks: int64 temporaries stay small
        block = keys[lo : lo + DIGITS_BLOCK]
        for k in range(n - 1, -1, -1):
            out[lo : lo + len(block), k] = block % base
            block = block // base
    return out
