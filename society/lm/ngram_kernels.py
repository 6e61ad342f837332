"""Array helpers of the n-gram model, shared by its per-agent and population paths."""

from __future__ import annotations

import numpy as np

MIN_COUNT = 1e-3
"""n-gram counts decayed below this by ``memory`` are dropped (keeps tables bounded)."""

_TINY = 1e-300


def _exclusive_cumsum(x: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x) + 1, dtype=np.int64)
    np.cumsum(x, out=out[1:])
    return out


def _segments(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ranges ``starts[i] : starts[i] + lengths[i]``.

    Returns:
        The range number of each flat element and the flat indices.
    """
    offsets = _exclusive_cumsum(lengths)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    flat = np.arange(offsets[-1], dtype=np.int64) + np.repeat(starts - offsets[:-1], lengths)
    return rows, flat


def _segment_max(values: np.ndarray, offsets: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Per-row maximum of ``values`` (grouped by row pointers ``offsets``) and ``initial``."""
    out = initial.copy()
    nonempty = offsets[1:] > offsets[:-1]
    if nonempty.any():
        reduced = np.maximum.reduceat(values, offsets[:-1][nonempty])
        out[nonempty] = np.maximum(out[nonempty], reduced)
    return out


def _lex_keys(rows: np.ndarray, base: int) -> np.ndarray:
    """Integer keys whose order is the lexicographic order of the rows of ``rows``.

    Keys are only comparable within one call (wide n-grams are ranked column by column).
    """
    n_cols = rows.shape[1]
    key = rows[:, 0].astype(np.int64)
    direct = base**n_cols < 2**62
    for j in range(1, n_cols):
        if not direct:
            key = np.unique(key, return_inverse=True)[1].astype(np.int64)
        key = key * base + rows[:, j]
    return key


def _snap(counts: np.ndarray) -> np.ndarray:
    """Round float counts to 1e-9 so equal counts summed in different orders tie exactly.

    Exact ties matter: tokens with equal counts must get equal probabilities for the
    nucleus (top-p) to keep or drop them together.
    """
    return np.round(counts, 9)


def merged_rows(
    cid: np.ndarray,
    keys: list[np.ndarray],
    alpha: list[np.ndarray],
    gamma: list[np.ndarray],
    indptr: list[np.ndarray],
    v: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Next-token distributions as ``beta[i] * unigram + sparse row i``, from context ids.

    The bigram context's entries frame each row: higher levels are subsets of them.

    Args:
        cid: ``(n, order)`` context ids of each row (column ``m``: its last ``m`` tokens,
            -1 if unseen), as ``NGramLM._context_ids`` gives them.
        keys: sorted entry keys of each level ``k >= 2`` (``_Tables.keys``, or the
            population's concatenated ones); ``keys[0]`` is not empty.
        alpha: discounted share of each entry, per level.
        gamma: back-off weight of each context, per level.
        indptr: row pointers from context id to entries, per level.
        v: the vocabulary size.

    Returns:
        ``(rows, ranks, values, offsets, beta)``: the sparse entries (token ranks in the
        unigram order, increasing within each row) grouped by row with ``n + 1`` row
        pointers ``offsets``, and the per-row weight of the unigram level.
    """
    c1 = cid[:, 1]
    seen = c1 >= 0
    c1_safe = np.where(seen, c1, 0)
    start = np.where(seen, indptr[0][c1_safe], 0)
    length = np.where(seen, indptr[0][c1_safe + 1] - start, 0)
    rows, flat = _segments(start, length)
    offsets = _exclusive_cumsum(length)
    ranks = keys[0][flat] - c1[rows] * v
    values = alpha[0][flat]
    beta = np.where(seen, gamma[0][c1_safe], 1.0)
    for k in range(3, cid.shape[1] + 1):
        ck = cid[:, k - 1]
        seen_k = ck >= 0
        ck_safe = np.where(seen_k, ck, 0)
        gamma_k = np.where(seen_k, gamma[k - 2][ck_safe], 1.0)
        start_k = np.where(seen_k, indptr[k - 2][ck_safe], 0)
        length_k = np.where(seen_k, indptr[k - 2][ck_safe + 1] - start_k, 0)
        rows_k, flat_k = _segments(start_k, length_k)
        ranks_k = keys[k - 2][flat_k] - ck[rows_k] * v
        at = find(keys[0], c1[rows_k] * v + ranks_k)
        at += offsets[rows_k] - start[rows_k]
        values = values * gamma_k[rows]
        values[at] += alpha[k - 2][flat_k]
        beta = beta * gamma_k
    return rows, ranks, values, offsets, beta


def pick_by_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF pick per row of unnormalised ``(rows, V)`` weights, one uniform each."""
    cum = np.cumsum(probs, axis=1)
    picked = (cum <= (u * cum[:, -1])[:, None]).sum(axis=1)
    return np.minimum(picked, probs.shape[1] - 1)


def runs(values: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of equal consecutive non-negative integers ``values``."""
    starts = np.flatnonzero(np.diff(values, prepend=-1))
    stops = [*starts[1:].tolist(), len(values)]
    return list(zip(starts.tolist(), stops, strict=True))


def index_dtype(bound: int) -> type[np.signedinteger]:
    """The smallest of int32 and int64 that holds every integer in ``[-bound, bound]``."""
    return np.int32 if bound < 2**31 else np.int64


def find(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.searchsorted(table, keys)`` with ``keys`` cast to the table's dtype.

    numpy searches an int32 table for int64 keys by copying the table to int64 first (a
    thousand times slower for small queries); a table's keys are stored in the smallest
    dtype that holds its whole key space (:func:`index_dtype`), so the cast is exact.
    """
    return np.searchsorted(table, keys.astype(table.dtype, copy=False))
