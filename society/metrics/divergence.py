"""How far apart agents' languages are: n-gram count matrices and Jensen-Shannon divergence.

Pure, vectorised functions over tokenised texts; they know nothing of agents or Mesa.
A *document* is everything one agent said in a round, already tokenised: a list of texts,
each a list of words (see ``society.metrics.text.tokenize_all``).

The Jensen-Shannon divergence between the row-normalised distributions ``P`` and ``Q`` is
computed as ``H(M) - (H(P) + H(Q)) / 2`` with ``M = (P + Q) / 2`` and entropies in bits, so
it lies in ``[0, 1]``: 0 for identical distributions, 1 for disjoint supports. Row entropies
are computed once; ``H(M)`` for a chunk of pairs comes from merging each pair's two sorted
rows (``jsd_kernels``), so the cost is proportional to the pairs' combined support, never to
the full vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse

from society.metrics.jsd_kernels import mixtures, row_sums

Doc = Sequence[Sequence[str]]

#: Stored entries (gathered rows of both sides) processed per chunk of pairs.
CHUNK_NNZ = 1_000_000


class _Tokens(NamedTuple):
    """All documents' words flattened: integer word ids, and which text and row each is in."""

    ids: np.ndarray  # int64 word id per token, ids numbered in order of first appearance
    words: np.ndarray  # object array: the word of each id
    text_of: np.ndarray  # text number of each token
    doc_of_text: np.ndarray  # document (row) of each text
    n_docs: int


class AgentTokens(NamedTuple):
    """Agents' texts as word ids, without the words: counted like their documents.

    Word ids number the words in order of first appearance (as ``_flatten`` does); the
    relabelling null is sent these instead of the documents (a few int arrays pickle in
    milliseconds, a round's word tuples in a tenth of a second).
    """

    ids: np.ndarray  # word id of every token, the agents' texts one after another (int32)
    text_lengths: np.ndarray  # tokens in each text
    sizes: np.ndarray  # texts of each agent

    def __len__(self) -> int:
        return len(self.sizes)

    def select(self, agents: np.ndarray) -> AgentTokens:
        """The tokens of ``agents`` (ascending positions), in their order."""
        text_at = np.concatenate([[0], np.cumsum(self.sizes)])
        token_at = np.concatenate([[0], np.cumsum(self.text_lengths)])
        texts = np.concatenate([np.arange(text_at[a], text_at[a + 1]) for a in agents] or [[]])
        texts = texts.astype(np.int64)
        lengths = self.text_lengths[texts]
        starts = np.repeat(token_at[texts], lengths)
        within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return AgentTokens(self.ids[starts + within], lengths, self.sizes[np.asarray(agents)])

    def per_text(self) -> _Tokens:
        """One document per text, as ``_flatten`` of ``[[text] for each text]`` gives."""
        ids, words = pd.factorize(self.ids, sort=False)
        n_texts = len(self.text_lengths)
        return _Tokens(
            ids=np.asarray(ids, dtype=np.int64),
            words=np.empty(len(words), dtype=object),  # only their number is read
            text_of=np.repeat(np.arange(n_texts), self.text_lengths),
            doc_of_text=np.arange(n_texts),
            n_docs=n_texts,
        )


def _flatten(docs: Sequence[Doc]) -> _Tokens:
    lengths = [len(text) for doc in docs for text in doc]
    flat = np.empty(sum(lengths), dtype=object)
    flat[:] = list(chain.from_iterable(chain.from_iterable(docs)))
    ids, words = pd.factorize(flat, sort=False)
    return _Tokens(
        ids=np.asarray(ids, dtype=np.int64),
        words=np.asarray(words, dtype=object),
        text_of=np.repeat(np.arange(len(lengths)), lengths),
        doc_of_text=np.repeat(np.arange(len(docs)), [len(doc) for doc in docs]),
        n_docs=len(docs),
    )


def _count(tokens: _Tokens, n: int) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """Count matrix, start position of each n-gram occurrence, and its column."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    starts = ngram_starts(tokens, n)
    # Fold the n word ids into one key, re-factorising after each step so keys stay below
    # (number of tokens) * (number of word types). Factorising numbers the distinct
    # n-grams 0..K-1 in order of first appearance, so the key is the column.
    col = tokens.ids[starts]
    n_words = max(len(tokens.words), 1)
    for k in range(1, n):
        col, _ = pd.factorize(col * n_words + tokens.ids[starts + k], sort=False)
        col = np.asarray(col, dtype=np.int64)
    n_cols = int(col.max()) + 1 if len(col) else 0
    return count_matrix(tokens, starts, col, n_cols), starts, col


def ngram_starts(tokens: _Tokens, n: int) -> np.ndarray:
    """Where each n-gram starts: positions whose first and last word are in one text."""
    starts = np.arange(max(len(tokens.ids) - n + 1, 0))
    if len(starts):
        starts = starts[tokens.text_of[starts] == tokens.text_of[starts + n - 1]]
    return starts


def count_matrix(
    tokens: _Tokens, starts: np.ndarray, col: np.ndarray, n_cols: int
) -> sparse.csr_matrix:
    """``(documents, n_cols)`` counts of the n-grams starting at ``starts`` in columns ``col``."""
    row = tokens.doc_of_text[tokens.text_of[starts]] if len(starts) else starts
    counts = sparse.csr_matrix(
        (np.ones(len(col)), (row, col)), shape=(tokens.n_docs, n_cols), dtype=np.float64
    )
    counts.sum_duplicates()
    return counts


def ngram_counts(docs: Sequence[Doc], n: int) -> tuple[sparse.csr_matrix, list[tuple[str, ...]]]:
    """Count each document's n-grams into a sparse matrix, and name its columns.

    N-grams never cross a text boundary. Columns are the distinct n-grams over all
    documents, in order of first appearance.

    Args:
        docs: one document per row (a list of token lists).
        n: n-gram order (>= 1).

    Returns:
        ``(counts, vocab)``: a ``(len(docs), len(vocab))`` CSR matrix of float64 counts and
        the n-gram (a tuple of ``n`` words) of each column.

    Raises:
        ValueError: if ``n < 1``.
    """
    tokens = _flatten(docs)
    counts, starts, col = _count(tokens, n)
    _, first = np.unique(col, return_index=True)  # column c first occurs at first[c]
    at = starts[first][:, None] + np.arange(n)
    return counts, [tuple(g) for g in tokens.words[tokens.ids[at]].tolist()]


def ngram_count_matrix(docs: Sequence[Doc], n: int) -> sparse.csr_matrix:
    """Rows = documents, columns = distinct n-grams over all documents, values = counts.

    Args:
        docs: one document per row (a list of token lists).
        n: n-gram order (>= 1).

    Returns:
        A ``(len(docs), n_distinct_ngrams)`` CSR matrix of float64 counts (see ``ngram_counts``).

    Raises:
        ValueError: if ``n < 1``.
    """
    return _count(_flatten(docs), n)[0]


def ngram_count_matrices(docs: Sequence[Doc], orders: Sequence[int]) -> list[sparse.csr_matrix]:
    """``ngram_count_matrix`` for several orders, flattening the documents only once.

    Args:
        docs: one document per row (a list of token lists).
        orders: the n-gram orders wanted, each >= 1.

    Returns:
        One count matrix per order, in the order given.

    Raises:
        ValueError: if an order is < 1.
    """
    tokens = _flatten(docs)
    return [_count(tokens, n)[0] for n in orders]


def _xlogx_sum(matrix: sparse.csr_matrix) -> np.ndarray:
    """Per row, ``sum x log2 x`` over stored entries (all assumed > 0)."""
    data = matrix.data
    values = data * np.log2(data, where=data > 0, out=np.zeros_like(data))
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return np.bincount(rows, weights=values, minlength=matrix.shape[0])


def _normalise(counts: sparse.spmatrix) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Row-normalise to probabilities; also return which rows are empty."""
    counts = sparse.csr_matrix(counts, dtype=np.float64, copy=True)
    counts.eliminate_zeros()
    counts.sum_duplicates()
    counts.sort_indices()
    if counts.nnz and counts.data.min() < 0:
        raise ValueError("counts must be non-negative")
    totals = np.asarray(counts.sum(axis=1)).ravel()
    empty = totals <= 0
    scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=~empty)
    counts.data *= np.repeat(scale, np.diff(counts.indptr))
    return counts, empty


def _pairs_jsd(probs: sparse.csr_matrix, neg_entropy: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """JSD (bits) for each row pair; ``neg_entropy[r] = sum p log2 p`` of row ``r``.

    ``probs`` has sorted indices (``_normalise``); each chunk's mixtures are merged by a
    compiled kernel (``jsd_kernels``: the same values and sums as SciPy's row sums).
    """
    out = np.empty(len(pairs))
    nnz = np.diff(probs.indptr)
    cost = np.cumsum(nnz[pairs[:, 0]] + nnz[pairs[:, 1]])
    start = 0
    while start < len(pairs):
        stop = int(np.searchsorted(cost, (cost[start - 1] if start else 0) + CHUNK_NNZ, "right"))
        stop = max(stop, start + 1)
        i, j = pairs[start:stop, 0], pairs[start:stop, 1]
        mixture, ends = mixtures(probs.indptr, probs.data, probs.indices, i, j)
        mixture *= np.log2(mixture)  # entries of M are positive: m log2 m
        out[start:stop] = 0.5 * (neg_entropy[i] + neg_entropy[j]) - row_sums(mixture, ends)
        start = stop
    return out


def jsd_matrix(counts: sparse.spmatrix | np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between row-normalised count rows.

    Args:
        counts: ``(n, V)`` non-negative counts (sparse or dense); each row is normalised
            to a probability distribution.
        pairs: optional ``(k, 2)`` integer array of row indices. If given, only those
            pairs are computed.

    Returns:
        With ``pairs``: a length-``k`` vector, one divergence per pair. Without: the full
        symmetric ``(n, n)`` matrix with a zero diagonal. Any pair involving a row whose
        total is zero is NaN (including that row's diagonal entry). Values are clipped to
        ``[0, 1]`` to remove floating-point round-off.

    Raises:
        ValueError: if ``pairs`` is not ``(k, 2)``, indexes outside ``[0, n)``, or the
            counts are negative.
    """
    probs, empty = _normalise(counts)
    n = probs.shape[0]
    neg_entropy = _xlogx_sum(probs)
    if pairs is None:
        i, j = np.triu_indices(n, k=1)
        upper = _finish(_pairs_jsd(probs, neg_entropy, np.column_stack([i, j])), empty, i, j)
        full = np.zeros((n, n))
        full[i, j] = upper
        full[j, i] = upper
        full[empty, :] = np.nan
        full[:, empty] = np.nan
        return full
    pairs = np.asarray(pairs)
    if pairs.size == 0:
        return np.empty(0)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
        raise ValueError(f"pairs must be a (k, 2) integer array, got shape {pairs.shape}")
    if pairs.min() < 0 or pairs.max() >= n:
        raise ValueError(f"pairs index rows outside [0, {n})")
    pairs = pairs.astype(np.int64, copy=False)
    values = _pairs_jsd(probs, neg_entropy, pairs)
    return _finish(values, empty, pairs[:, 0], pairs[:, 1])


def _finish(values: np.ndarray, empty: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    values = np.clip(values, 0.0, 1.0)
    values[i == j] = 0.0
    values[empty[i] | empty[j]] = np.nan
    return values


def canonical_pairs(pairs: str | np.ndarray, n: int) -> np.ndarray:
    """Canonical unordered pairs: each row ``i < j``, no self-pairs, no repeats, sorted.

    Args:
        pairs: ``"all"`` or a ``(k, 2)`` array of positions.
        n: the number of agents.

    Returns:
        A ``(k, 2)`` int64 array (every pair for ``"all"``).

    Raises:
        ValueError: for another string or positions outside ``[0, n)``.
    """
    if isinstance(pairs, str):
        if pairs != "all":
            raise ValueError(f"pairs must be 'all' or a (k, 2) array, got {pairs!r}")
        i, j = np.triu_indices(n, k=1)
        return np.column_stack([i, j]).astype(np.int64)
    array = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if array.size and (array.min() < 0 or array.max() >= n):
        raise ValueError(f"pairs index agents outside [0, {n})")
    array = np.sort(array, axis=1)
    array = array[array[:, 0] != array[:, 1]]
    return np.unique(array, axis=0) if len(array) else array


def pair_table(
    agent_ids: Sequence[int],
    communities: Sequence[int],
    docs: Sequence[Doc],
    pairs: str | np.ndarray = "all",
    counts: Sequence[sparse.csr_matrix] | None = None,
) -> pd.DataFrame:
    """One row per unordered agent pair: community relation and unigram/bigram JSD.

    Args:
        agent_ids: id of each agent (reported in ``agent_i``/``agent_j``).
        communities: community of each agent, aligned with ``agent_ids``.
        docs: tokenised document of each agent, aligned with ``agent_ids``.
        pairs: ``"all"`` for every pair, or a ``(k, 2)`` array of positions into
            ``agent_ids``. Explicit pairs are canonicalised: each is ordered so the
            first position is smaller, self-pairs and repeats are dropped, and rows come
            out sorted by position.
        counts: the unigram and bigram ``ngram_count_matrix`` of ``docs`` when already
            built (``RoundRecord.counts``), else counted here.

    Returns:
        A DataFrame with columns ``agent_i``, ``agent_j`` (ids, position of ``agent_i`` <
        position of ``agent_j``), ``same_community`` (bool), ``jsd_unigram`` and
        ``jsd_bigram`` (bits, NaN where either agent has no n-gram of that order).

    Raises:
        ValueError: if the three sequences differ in length or ``pairs`` is invalid.
    """
    n = len(agent_ids)
    if not (len(communities) == len(docs) == n):
        raise ValueError(
            f"agent_ids, communities and docs differ in length: "
            f"{n}, {len(communities)}, {len(docs)}"
        )
    index = canonical_pairs(pairs, n)
    ids = np.asarray(agent_ids, dtype=np.int64)
    comm = np.asarray(communities)
    i, j = index[:, 0], index[:, 1]
    unigrams, bigrams = counts if counts is not None else ngram_count_matrices(docs, (1, 2))
    return pd.DataFrame(
        {
            "agent_i": ids[i],
            "agent_j": ids[j],
            "same_community": np.asarray(comm[i] == comm[j], dtype=bool),
            "jsd_unigram": jsd_matrix(unigrams, index),
            "jsd_bigram": jsd_matrix(bigrams, index),
        }
    )


def within_between(pairs_df: pd.DataFrame, column: str) -> dict[str, float]:
    """Mean of ``column`` within and between communities, and the separation index.

    NaN values of ``column`` are ignored in both means.

    Args:
        pairs_df: a table with a boolean ``same_community`` column (e.g. ``pair_table``).
        column: the divergence column to summarise.

    Returns:
        ``within`` (mean over same-community pairs), ``between`` (mean over
        different-community pairs), each NaN when there is no such pair with a value, and
        ``index = 1 - within / between``: > 0 when communities are more alike inside than
        across, NaN when either mean is NaN or ``between`` is not above 0 (an excess
        column of agents that speak one language).
    """
    same = pairs_df["same_community"].to_numpy(dtype=bool)
    values = pairs_df[column].to_numpy(dtype=float)

    def mean(mask: np.ndarray) -> float:
        chosen = values[mask & ~np.isnan(values)]
        return float(chosen.mean()) if len(chosen) else float("nan")

    within, between = mean(same), mean(~same)
    defined = not (np.isnan(within) or np.isnan(between)) and between > 0
    return {
        "within": within,
        "between": between,
        "index": 1.0 - within / between if defined else float("nan"),
    }


def within_between_se(
    pairs_df: pd.DataFrame, column: str, communities: Sequence[int]
) -> dict[str, float]:
    """Standard errors of ``within_between``'s means when the pairs are a uniform sample.

    With ``metrics.pairs = "all"`` above ``metrics.exact_agents`` agents the pair table is
    a uniform sample of pairs without replacement (``record.sample_pairs``), so the pairs
    of each kind (same community or not) are a simple random sample of that kind's pairs:
    each mean's standard error is ``s / sqrt(m) * sqrt(1 - m / N)`` (``s`` the sample
    standard deviation, ``m`` the sampled pairs of the kind, ``N`` all pairs of the kind).
    Every pair measured: 0.

    Args:
        pairs_df: the round's pair table (a sample or every pair).
        column: the divergence column.
        communities: every agent's community (the whole population, not the sample).

    Returns:
        ``within`` and ``between``: the standard error of each mean (NaN with fewer than
        two sampled pairs of the kind).
    """
    _, sizes = np.unique(np.asarray(communities), return_counts=True)
    n = int(sizes.sum())
    population_within = int((sizes * (sizes - 1) // 2).sum())
    population = {"within": population_within, "between": n * (n - 1) // 2 - population_within}
    same = pairs_df["same_community"].to_numpy(dtype=bool)
    values = pairs_df[column].to_numpy(dtype=float)
    out = {}
    for part, mask in (("within", same), ("between", ~same)):
        chosen = values[mask & ~np.isnan(values)]
        m, total = len(chosen), population[part]
        out[part] = (
            float(chosen.std(ddof=1) / np.sqrt(m) * np.sqrt(max(1 - m / total, 0.0)))
            if m >= 2
            else float("nan")
        )
    return out
