"""Compiled (numba) kernels of the n-gram population paths: one pass per row, same floats.

The numpy population paths (:mod:`society.lm.ngram_population`) run every operation of the
per-agent code over whole arrays of sparse entries: a sampling step makes about twenty
passes over the entries of all rows (thousands per row on real text). These kernels walk
each row once, doing the same float operations in the same order, so they give the same
results bit for bit (tests compare them with the numpy paths):

* :meth:`SlotCache.draw` fuses ``context_ids``, ``merged_rows``, ``_step`` and ``_draw``
  for the default sampling (temperature 1, no nucleus), building each (table, context)
  distribution once for all the steps of a sampler. Sums are sequential like
  ``np.bincount`` and ``np.cumsum``; a request's cumulative sum runs across its rows, as
  in :meth:`society.lm.ngram.NGramLM._draw`.
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

from society.lm.ngram_kernels import _exclusive_cumsum

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
        ctx_child: per length ``m``, CSR pointers (within the length's keys) from each
            context of length ``m - 1`` (``m = 1``: each table) to its extensions, so a
            lookup searches one context's extensions, not the whole length.
        ctx_child_ptr: the start of each length in ``ctx_child``.
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
    ctx_child: np.ndarray
    ctx_child_ptr: np.ndarray


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
    child, child_ptr = flat.ctx_child, flat.ctx_child_ptr
    cid[0] = table
    for m in range(1, order):
        lo, hi = ctx_ptr[m - 1], ctx_ptr[m]
        prev = cid[m - 1]
        if hi == lo or prev < 0:
            cid[m] = -1
            continue
        key = prev * v + contexts[row, order - 1 - m]
        start = lo + child[child_ptr[m - 1] + prev]  # the extensions of ``prev`` only
        stop = lo + child[child_ptr[m - 1] + prev + 1]
        pos = start + np.searchsorted(ctx_flat[start:stop], key)
        cid[m] = pos - lo if pos < stop and ctx_flat[pos] == key else -1


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


class SlotCache:
    """The distributions :meth:`draw` has built for one population's tables, by slot.

    A slot is a (table, deepest known context) pair: every row that reaches it draws from
    the same distribution (its sparse entries' ranks and shares of the row total, and the
    total), which depends on nothing else. A sampler keeps one cache over all the steps
    of a chunk, so each slot's distribution is built once however many rows and steps
    meet it: clones of one ancestor meet the same contexts step after step (1,000 clones,
    100 texts: ~19,000 slots per step, most of them seen before).

    Args:
        n_keys: the population's tables plus contexts (``len(weights) + flat.ctx_ptr[-1]``).
    """

    def __init__(self, n_keys: int) -> None:
        self.slot_of = np.full(n_keys, -1, dtype=np.int64)
        self.n_slots = 0
        self.filled = 0  # entries used in ``ranks`` and ``share``
        self.start = np.zeros(0, dtype=np.int64)
        self.length = np.zeros(0, dtype=np.int64)
        self.total = np.zeros(0)
        self.ranks = np.zeros(0, dtype=np.int64)
        self.share = np.zeros(0)

    def _reserve(self, slots: int, entries: int) -> None:
        """Room for ``slots`` slots and ``entries`` entries (growing by doubling)."""
        self._grow(("start", "length", "total"), self.n_slots, slots)
        self._grow(("ranks", "share"), self.filled, entries)

    def _grow(self, names: tuple[str, ...], used: int, needed: int) -> None:
        """Arrays ``names`` (of one length) at least ``needed`` long, their first ``used`` kept."""
        size = len(getattr(self, names[0]))
        if needed <= size:
            return
        for name in names:
            old = getattr(self, name)
            grown = np.empty(max(needed, 2 * size), dtype=old.dtype)
            grown[:used] = old[:used]
            setattr(self, name, grown)

    def draw(
        self,
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
    ) -> np.ndarray:
        """Draw one token rank per row at temperature 1 without a nucleus.

        Args:
            contexts: ``(rows, order - 1)`` contexts, rows grouped by request.
            row_table: each row's table index.
            agent_rows: ``(requests + 1,)`` row pointers of the requests.
            u: one uniform per row.
            order: the model order ``n``.
            v: the vocabulary size.
            flat: the population's levels (the same in every call on this cache).
            unigram_sorted: ``(tables, V)`` unigram levels in rank order.
            weights: ``(tables, V)`` dense sampling weights (``_DensePop.weights``).
            cum: ``(tables, V + 1)`` their cumulative sums.

        Returns:
            The drawn rank of each row.
        """
        n_rows = len(u)
        has_sparse = order > 1 and flat.entry_ptr[1] > flat.entry_ptr[0]
        # 1. each row's slot; slots not seen before are opened
        keys = np.empty(n_rows, dtype=np.int64)
        lengths = np.empty(n_rows, dtype=np.int64)
        _row_keys(contexts, row_table, order, v, flat, len(weights), has_sparse, keys, lengths)
        row_slot = np.empty(n_rows, dtype=np.int64)
        opened = np.empty(n_rows, dtype=np.int64)
        new = _assign_slots(keys, self.slot_of, self.n_slots, row_slot, opened)
        # 2. the new slots' distributions
        if new:
            rows = opened[:new]
            sizes = lengths[rows]
            first, starts = self.n_slots, self.filled + _exclusive_cumsum(sizes)
            self._reserve(first + new, int(starts[-1]))
            self.start[first : first + new] = starts[:-1]
            self.length[first : first + new] = sizes
            _slot_distributions(
                rows, starts, contexts, row_table, order, v, flat, unigram_sorted, weights,
                cum, has_sparse, self.ranks, self.share, self.total[first : first + new],
            )  # fmt: skip
            self.n_slots, self.filled = first + new, int(starts[-1])
        # 3. the draws, each request's cumulative share running across its rows
        out = np.zeros(n_rows, dtype=np.int64)
        _draw_rows(
            agent_rows, row_slot, row_table, self.start, self.length, u, self.total, cum,
            self.share, self.ranks, out,
        )  # fmt: skip
        return out


@njit(cache=True, parallel=True)
def _row_keys(
    contexts: np.ndarray,
    row_table: np.ndarray,
    order: int,
    v: int,
    flat: FlatTables,
    n_tables: int,
    has_sparse: bool,
    keys: np.ndarray,
    lengths: np.ndarray,
) -> None:
    """Each row's slot key and the length of its level-2 row, into ``keys`` and ``lengths``.

    The key is the row's table, or ``n_tables`` + the flat id of its deepest known context.
    Rows are split between threads (each writes its own).
    """
    ctx_ptr, indptr, indptr_ptr = flat.ctx_ptr, flat.indptr, flat.indptr_ptr
    n_rows = len(row_table)
    blocks = min(n_rows, BLOCKS)
    for b in prange(blocks):
        cid = np.zeros(max(order, 1), dtype=np.int64)
        for row in range(b * n_rows // blocks, (b + 1) * n_rows // blocks):
            t = row_table[row]
            key, length = t, 0
            if has_sparse:
                _context_chain(contexts, row, t, order, v, flat, cid)
                for m in range(order - 1, 0, -1):
                    if cid[m] >= 0:
                        key = n_tables + ctx_ptr[m - 1] + cid[m]
                        break
                if cid[1] >= 0:
                    at = indptr_ptr[0] + cid[1]
                    length = indptr[at + 1] - indptr[at]
            keys[row] = key
            lengths[row] = length


@njit(cache=True)
def _assign_slots(
    keys: np.ndarray, slot_of: np.ndarray, n_slots: int, row_slot: np.ndarray, opened: np.ndarray
) -> int:
    """Each row's slot into ``row_slot``; returns how many slots it opened.

    A key without a slot opens slot ``n_slots + k``, its first row going to ``opened[k]``.
    """
    new = 0
    for row in range(len(keys)):
        slot = slot_of[keys[row]]
        if slot < 0:
            slot = n_slots + new
            slot_of[keys[row]] = slot
            opened[new] = row
            new += 1
        row_slot[row] = slot
    return new


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
    """Step 2 of :meth:`SlotCache.draw`: each new slot's entries, shares and total, in parallel.

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
    """Step 3 of :meth:`SlotCache.draw`: each request's draws (requests in parallel)."""
    v = cum.shape[1] - 1
    for agent in prange(len(agent_rows) - 1):
        running = 0.0
        for row in range(agent_rows[agent], agent_rows[agent + 1]):
            slot, t = row_slot[row], row_table[row]
            base, length = slot_start[slot], slot_len[slot]
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
    indptr, indptr_ptr = flat.indptr, flat.indptr_ptr
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
                    # the context's own entries (its CSR row), not the whole level
                    start = lo + indptr[indptr_ptr[k - 2] + ck]
                    stop = lo + indptr[indptr_ptr[k - 2] + ck + 1]
                    pos = start + np.searchsorted(keys[start:stop], key)
                    if pos < stop and keys[pos] == key:
                        alpha_k = alpha[pos]
                prob = alpha_k + gamma_k * prob
            out[i] = prob
    return out
