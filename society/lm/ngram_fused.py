"""Compiled (numba) kernels of the n-gram population paths: one pass per row, same floats.

The numpy population paths (:mod:`society.lm.ngram_population`) run every operation of the
per-agent code over whole arrays of sparse entries: a sampling step makes about twenty
passes over the entries of all rows (thousands per row on real text). These kernels walk
each row once, doing the same float operations in the same order, so they give the same
results bit for bit (tests compare them with the numpy paths):

* :func:`draw_default` fuses ``context_ids``, ``merged_rows``, ``_step`` and ``_draw`` for
  the default sampling (temperature 1, no nucleus). Sums are sequential like
  ``np.bincount`` and ``np.cumsum``; a request's cumulative sum runs across its rows, as in
  :meth:`society.lm.ngram.NGramLM._draw`.
* :func:`redraw_default` fuses ``_dense_probs_pop`` and ``NGramLM._redraw_valid`` for the
  rows whose draw UTF-8 refused (the same default sampling).
* :func:`score_probs` fuses the per-token probability of ``score`` (the logarithm stays in
  numpy, whose vectorised ``log`` may differ from libm's in the last bit).

Levels are passed flat, as one :class:`FlatTables`. Table ``t``'s empty context has id ``t``.
The kernels split rows that do not depend on each other (a slot's distribution, a request's
draws, a window's probability) between numba's threads (``NUMBA_NUM_THREADS``, all cores by
default), each with its own scratch, so the number of threads moves no float (tested).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

BLOCKS = 64
"""Independent pieces a parallel kernel splits its rows into (each with its own scratch)."""


class FlatTables(NamedTuple):
    """A population's n-gram levels, each kind of array concatenated over its levels.

    Attributes:
        ctx_flat: the context keys of lengths ``1 .. n - 1``, one length after another.
        ctx_ptr: the start of each length in ``ctx_flat``.
        keys: the entry keys of levels ``2 .. n``.
        entry_ptr: the start of each level in ``keys`` and ``alpha``.
        alpha: the entries' discounted shares.
        gamma: the back-off weights of the contexts of levels ``2 .. n``.
        gamma_ptr: the start of each level in ``gamma``.
        indptr: the CSR pointers from context to entries of levels ``2 .. n``.
        indptr_ptr: the start of each level in ``indptr``.
    """

    ctx_flat: np.ndarray
    ctx_ptr: np.ndarray
    keys: np.ndarray
    entry_ptr: np.ndarray
    alpha: np.ndarray
    gamma: np.ndarray
    gamma_ptr: np.ndarray
    indptr: np.ndarray
    indptr_ptr: np.ndarray


@njit(cache=True)
def _context_chain(
    contexts: np.ndarray,
    row: int,
    table: int,
    order: int,
    v: int,
    flat: FlatTables,
    cid: np.ndarray,
) -> None:
    """``PopulationTables.context_ids`` of one row into ``cid`` (length ``order``)."""
    ctx_flat, ctx_ptr = flat.ctx_flat, flat.ctx_ptr
    cid[0] = table
    for m in range(1, order):
        lo, hi = ctx_ptr[m - 1], ctx_ptr[m]
        prev = cid[m - 1]
        if hi == lo or prev < 0:
            cid[m] = -1
            continue
        key = prev * v + contexts[row, order - 1 - m]
        pos = lo + np.searchsorted(ctx_flat[lo:hi], key)
        if pos > hi - 1:
            pos = hi - 1
        cid[m] = pos - lo if ctx_flat[pos] == key else -1


@njit(cache=True)
def _merged_row(
    row: int,
    contexts: np.ndarray,
    t: int,
    order: int,
    v: int,
    flat: FlatTables,
    cid: np.ndarray,
    ranks: np.ndarray,
    values: np.ndarray,
) -> tuple[int, float]:
    """``merged_rows`` for one row: its entries into ``ranks``/``values``; (length, beta)."""
    keys, alpha, entry_ptr = flat.keys, flat.alpha, flat.entry_ptr
    gamma, gamma_ptr, indptr, indptr_ptr = flat.gamma, flat.gamma_ptr, flat.indptr, flat.indptr_ptr
    _context_chain(contexts, row, t, order, v, flat, cid)
    c1 = cid[1]
    start, length, beta = 0, 0, 1.0
    if c1 >= 0:
        start = indptr[indptr_ptr[0] + c1]
        length = indptr[indptr_ptr[0] + c1 + 1] - start
        beta = gamma[gamma_ptr[0] + c1]
    base = entry_ptr[0] + start
    for j in range(length):
        ranks[j] = keys[base + j] - c1 * v
        values[j] = alpha[base + j]
    for k in range(3, order + 1):
        ck = cid[k - 1]
        gamma_k = 1.0
        start_k, length_k = 0, 0
        if ck >= 0:
            gamma_k = gamma[gamma_ptr[k - 2] + ck]
            start_k = indptr[indptr_ptr[k - 2] + ck]
            length_k = indptr[indptr_ptr[k - 2] + ck + 1] - start_k
        for j in range(length):
            values[j] = values[j] * gamma_k
        base_k = entry_ptr[k - 2] + start_k
        for e in range(length_k):
            at = np.searchsorted(ranks[:length], keys[base_k + e] - ck * v)
            values[at] += alpha[base_k + e]
        beta = beta * gamma_k
    return length, beta


@njit(cache=True)
def draw_default(
    contexts: np.ndarray,
    row_table: np.ndarray,
    agent_rows: np.ndarray,
    u: np.ndarray,
    order: int,
    v: int,
    flat: FlatTables,
    unigram_sorted: np.ndarray,
    weights: np.ndarray,
    cum: np.ndarray,
    slot_of: np.ndarray,
) -> np.ndarray:
    """Draw one token rank per row at temperature 1 without a nucleus.

    Rows with the same table and context share one distribution: it is built once per
    call (``slot_of``, one ``-1`` per table and context, is the scratch map; it is -1 again
    on return). Each row then only runs its request's cumulative sum over its entries.

    Args:
        contexts: ``(rows, order - 1)`` contexts, rows grouped by request.
        row_table: each row's table index.
        agent_rows: ``(requests + 1,)`` row pointers of the requests.
        u: one uniform per row.
        order: the model order ``n``.
        v: the vocabulary size.
        flat: the population's levels.
        unigram_sorted: ``(tables, V)`` unigram levels in rank order.
        weights: ``(tables, V)`` dense sampling weights (``_DensePop.weights``).
        cum: ``(tables, V + 1)`` their cumulative sums.
        slot_of: ``(tables + contexts,)`` int64 scratch, all -1.

    Returns:
        The drawn rank of each row.
    """
    n_rows, n_tables = len(u), len(weights)
    ctx_ptr, entry_ptr = flat.ctx_ptr, flat.entry_ptr
    indptr, indptr_ptr = flat.indptr, flat.indptr_ptr
    cid = np.zeros(max(order, 1), dtype=np.int64)
    has_sparse = order > 1 and entry_ptr[1] > entry_ptr[0]
    # 1. one slot per distinct (table, deepest known context)
    row_slot = np.empty(n_rows, dtype=np.int64)
    slot_row = np.empty(n_rows, dtype=np.int64)
    slot_key = np.empty(n_rows, dtype=np.int64)
    slot_len = np.zeros(n_rows + 1, dtype=np.int64)
    n_slots = 0
    for row in range(n_rows):
        t = row_table[row]
        key, length = t, 0
        if has_sparse:
            _context_chain(contexts, row, t, order, v, flat, cid)
            for m in range(order - 1, 0, -1):
                if cid[m] >= 0:
                    key = n_tables + ctx_ptr[m - 1] + cid[m]
                    break
            if cid[1] >= 0:
                length = indptr[indptr_ptr[0] + cid[1] + 1] - indptr[indptr_ptr[0] + cid[1]]
        slot = slot_of[key]
        if slot < 0:
            slot = n_slots
            slot_of[key] = slot
            slot_row[slot], slot_key[slot], slot_len[slot + 1] = row, key, length
            n_slots += 1
        row_slot[row] = slot
    slot_start = np.cumsum(slot_len[: n_slots + 1])
    # 2. each slot's distribution: entry ranks, shares of the row total, the total
    for slot in range(n_slots):
        slot_of[slot_key[slot]] = -1
    ranks = np.empty(slot_start[n_slots], dtype=np.int64)
    share = np.empty(slot_start[n_slots])
    total = np.empty(n_slots)
    _slot_distributions(
        slot_row[:n_slots], slot_start, contexts, row_table, order, v, flat, unigram_sorted,
        weights, cum, has_sparse, ranks, share, total,
    )  # fmt: skip
    # 3. the draws, each request's cumulative share running across its rows
    out = np.zeros(n_rows, dtype=np.int64)
    _draw_rows(
        agent_rows, row_slot, row_table, slot_start, slot_len, u, total, cum, share, ranks, out
    )
    return out


@njit(cache=True, parallel=True)
def _slot_distributions(
    slot_row: np.ndarray,
    slot_start: np.ndarray,
    contexts: np.ndarray,
    row_table: np.ndarray,
    order: int,
    v: int,
    flat: FlatTables,
    unigram_sorted: np.ndarray,
    weights: np.ndarray,
    cum: np.ndarray,
    has_sparse: bool,
    ranks: np.ndarray,
    share: np.ndarray,
    total: np.ndarray,
) -> None:
    """Step 2 of :func:`draw_default`: each slot's entries, shares and total, in parallel.

    Slots are independent (each writes its own range), so threads change no float.
    """
    n_slots = len(slot_row)
    blocks = min(n_slots, BLOCKS)
    for b in prange(blocks):
        cid = np.zeros(max(order, 1), dtype=np.int64)
        values = np.zeros(v)
        extra = np.zeros(v)
        for slot in range(b, n_slots, blocks):
            row, base = slot_row[slot], slot_start[slot]
            t = row_table[row]
            length, beta = 0, 1.0
            if has_sparse:
                length, beta = _merged_row(
                    row, contexts, t, order, v, flat, cid, ranks[base:], values
                )
            total_sparse = _sparse_extras(
                ranks[base:], values, length, beta, unigram_sorted[t], weights[t], extra
            )
            total[slot] = cum[t, v] + total_sparse
            for j in range(length):
                share[base + j] = extra[j] / total[slot]


@njit(cache=True)
def _sparse_extras(
    ranks: np.ndarray,
    values: np.ndarray,
    length: int,
    beta: float,
    unigram_sorted: np.ndarray,
    weights: np.ndarray,
    extra: np.ndarray,
) -> float:
    """A merged row's sparse weight beyond its dense part, per entry into ``extra``; the sum.

    Entry ``j`` (rank ``ranks[j]``, sparse value ``values[j]``) is worth
    ``(values[j] + beta * B[rank]) / (beta * B[0])`` in the dense part's units, never less
    than its dense weight when it has sparse mass; ``extra[j]`` is what it adds.
    """
    scale = beta * unigram_sorted[0]
    total_sparse = 0.0
    for j in range(length):
        rank = ranks[j]
        q = (values[j] + beta * unigram_sorted[rank]) / scale
        e = weights[rank]
        if values[j] > 0:
            if e > q:
                q = e
        else:
            q = e
        extra[j] = q - e
        total_sparse += extra[j]
    return total_sparse


@njit(cache=True, parallel=True)
def _draw_rows(
    agent_rows: np.ndarray,
    row_slot: np.ndarray,
    row_table: np.ndarray,
    slot_start: np.ndarray,
    slot_len: np.ndarray,
    u: np.ndarray,
    total: np.ndarray,
    cum: np.ndarray,
    share: np.ndarray,
    ranks: np.ndarray,
    out: np.ndarray,
) -> None:
    """Step 3 of :func:`draw_default`: each request's draws (requests in parallel)."""
    v = cum.shape[1] - 1
    for agent in prange(len(agent_rows) - 1):
        running = 0.0
        for row in range(agent_rows[agent], agent_rows[agent + 1]):
            slot, t = row_slot[row], row_table[row]
            base, length = slot_start[slot], slot_len[slot + 1]
            target = u[row] * total[slot]
            sparse_mass = total[slot] - cum[t, v]
            k = np.searchsorted(cum[t], target - sparse_mass, side="right") - 1
            rank = min(max(k, 0), max(v - 1, 0))
            threshold = running + u[row]
            picked = length - 1
            found = False
            for j in range(length):
                running += share[base + j]
                if not found and running > threshold:
                    picked, found = j, True
            if target < sparse_mass and length > 0:
                rank = ranks[base + picked]
            out[row] = rank


@njit(cache=True)
def redraw_default(
    contexts: np.ndarray,
    row_table: np.ndarray,
    u: np.ndarray,
    allowed: np.ndarray,
    order: int,
    v: int,
    flat: FlatTables,
    unigram_sorted: np.ndarray,
    weights: np.ndarray,
    cum: np.ndarray,
    rank: np.ndarray,
) -> np.ndarray:
    """Redraw refused rows from their distribution restricted to the allowed tokens.

    The compiled form of ``_DensePop`` rows (``_dense_probs_pop``) followed by
    ``NGramLM._redraw_valid`` at temperature 1 without a nucleus: the row's probabilities
    by token id, times ``allowed``, summed left to right, picked by ``u``; the same floats.

    Args:
        contexts: ``(rows, order - 1)`` contexts of the refused rows.
        row_table: each row's table index.
        u: one uniform per row (drawn from its request's generator).
        allowed: ``(rows, V)`` the tokens each row's UTF-8 state allows.
        order: the model order ``n``.
        v: the vocabulary size.
        flat: the population's levels.
        unigram_sorted: ``(tables, V)`` unigram levels in rank order.
        weights: ``(tables, V)`` dense sampling weights.
        cum: ``(tables, V + 1)`` their cumulative sums.
        rank: ``(tables, V)`` rank of each token id.

    Returns:
        The token id of each row, or -1 where no allowed token has mass (the caller falls
        back to ``NGramLM._valid_probs``).
    """
    n_rows = len(u)
    entry_ptr = flat.entry_ptr
    has_sparse = order > 1 and entry_ptr[1] > entry_ptr[0]
    cid = np.zeros(max(order, 1), dtype=np.int64)
    ranks = np.empty(v, dtype=np.int64)
    values = np.zeros(v)
    extra = np.zeros(v)
    by_rank = np.empty(v)
    running = np.empty(v)
    out = np.empty(n_rows, dtype=np.int64)
    for row in range(n_rows):
        t = row_table[row]
        length, beta = 0, 1.0
        if has_sparse:
            length, beta = _merged_row(row, contexts, t, order, v, flat, cid, ranks, values)
        for r in range(v):
            by_rank[r] = weights[t, r]
        total_sparse = _sparse_extras(
            ranks, values, length, beta, unigram_sorted[t], weights[t], extra
        )
        for j in range(length):
            by_rank[ranks[j]] += extra[j]
        total = cum[t, v] + total_sparse
        acc = 0.0
        for token in range(v):
            p = by_rank[rank[t, token]] / total
            acc += p * allowed[row, token]
            running[token] = acc
        if not acc > 0:
            out[row] = -1
            continue
        target = u[row] * acc
        picked = 0
        for token in range(v):
            if running[token] <= target:
                picked += 1
        out[row] = min(picked, v - 1)
    return out


@njit(cache=True, parallel=True)
def score_probs(
    windows: np.ndarray,
    row_table: np.ndarray,
    order: int,
    v: int,
    flat: FlatTables,
    unigram: np.ndarray,
    rank: np.ndarray,
) -> np.ndarray:
    """The probability of each window's last token given the tokens before it.

    Args:
        windows: ``(tokens, order)`` windows (context, then the token).
        row_table: each window's table index.
        order: the model order ``n``.
        v: the vocabulary size.
        flat: the population's levels.
        unigram: ``(tables, V)`` unigram levels by token id.
        rank: ``(tables, V)`` rank of each token.

    Returns:
        One probability per window.
    """
    n = len(windows)
    keys, alpha, entry_ptr = flat.keys, flat.alpha, flat.entry_ptr
    gamma, gamma_ptr = flat.gamma, flat.gamma_ptr
    out = np.zeros(n)
    blocks = min(n, BLOCKS)
    for b in prange(blocks):  # windows are independent: threads change no float
        cid = np.zeros(max(order, 1), dtype=np.int64)
        for i in range(b * n // blocks, (b + 1) * n // blocks):
            t = row_table[i]
            word = windows[i, order - 1]
            ranked = rank[t, word]
            _context_chain(windows, i, t, order, v, flat, cid)
            prob = unigram[t, word]
            for k in range(2, order + 1):
                lo, hi = entry_ptr[k - 2], entry_ptr[k - 1]
                if hi == lo:
                    continue
                ck = cid[k - 1]
                gamma_k = 1.0
                alpha_k = 0.0
                if ck >= 0:
                    gamma_k = gamma[gamma_ptr[k - 2] + ck]
                    key = ck * v + ranked
                    pos = lo + np.searchsorted(keys[lo:hi], key)
                    if pos > hi - 1:
                        pos = hi - 1
                    if keys[pos] == key:
                        alpha_k = alpha[pos]
                prob = alpha_k + gamma_k * prob
            out[i] = prob
    return out
