"""Interpolated Kneser-Ney n-gram language model over the shared tokenizer's ids.

The model's state is one sparse table: every distinct n-gram with a float count. Each text
is padded with ``order - 1`` end-of-text ids as its first context and ends with one
end-of-text id as its last predicted token. Everything else is derived from it after
each change:

* contexts are numbered through a suffix chain: a context of length ``m`` is the key
  ``id(its last m - 1 tokens) * V + its first token`` in a sorted array, so looking a
  context up is ``m`` vectorised ``searchsorted`` calls and a context is only found when
  all its suffixes are;
* level ``k`` (``k``-grams) is a sorted array of keys ``context id * V + rank of the next
  token`` (ranks order tokens by decreasing unigram probability), grouped by context like
  the rows of a CSR matrix, with the discounted share
  ``max(a - D, 0) / A(context)`` of each entry and the back-off weight ``gamma`` of each
  context. The highest level uses raw counts; lower levels use continuation counts
  ``sum over left extensions of min(count, 1)`` (the number of distinct left extensions for
  integer counts, and a smooth fade-out for counts decayed by ``memory``);
* level 1 is interpolated with the uniform distribution over the vocabulary, so every token
  keeps a nonzero probability.

Sampling never materialises the ``n x V`` probability matrix: a row's distribution is
``beta * B + s`` with ``B`` the dense unigram level shared by all rows and ``s`` sparse,
supported on the entries of the row's bigram context (higher levels are subsets of it).
Temperature and nucleus (top-p) truncation are applied exactly on that representation: the
dense part keeps its (precomputed) rank order under both, so a row's nucleus is a prefix of
that order plus a subset of its sparse entries, found without sorting the vocabulary.
Draws are inverse-CDF with one ``rng.random`` uniform per unfinished text and step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from society.tokenizer import SharedTokenizer

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


def _unique_small(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for keys in ``[0, size)`` without sorting."""
    present = np.bincount(keys, minlength=size) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[keys]


def _snap(counts: np.ndarray) -> np.ndarray:
    """Round float counts to 1e-9 so equal counts summed in different orders tie exactly.

    Exact ties matter: tokens with equal counts must get equal probabilities for the
    nucleus (top-p) to keep or drop them together.
    """
    return np.round(counts, 9)


def _discounted(
    counts: np.ndarray, ctx: np.ndarray, n_ctx: int, discount: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Absolute discounting of one level.

    Args:
        counts: (adjusted) count of each entry, entries grouped by context.
        ctx: context id of each entry (non-decreasing).
        n_ctx: number of contexts (every context has at least one entry).
        discount: the absolute discount ``D``.

    Returns:
        ``max(a - D, 0) / A(ctx)`` per entry, the back-off weight ``sum min(a, D) / A`` per
        context (what discounting removed, so each level sums to one), and CSR row pointers.
    """
    total = np.bincount(ctx, weights=counts, minlength=n_ctx)
    alpha = np.maximum(counts - discount, 0.0) / total[ctx]
    gamma = np.bincount(ctx, weights=np.minimum(counts, discount), minlength=n_ctx) / total
    return alpha, gamma, _exclusive_cumsum(np.bincount(ctx, minlength=n_ctx))


@dataclass(frozen=True)
class _Tables:
    """Derived lookup tables (read-only; shared between clones).

    Attributes:
        contexts: ``contexts[m - 1]`` is the sorted key array of contexts of length ``m``.
        keys: ``keys[k - 2]`` are the sorted entry keys ``context id * V + rank of the next
            token`` of level ``k`` (``k >= 2``).
        alpha: discounted probability share of each entry, per level ``k >= 2``.
        gamma: back-off weight of each context, per level ``k >= 2``.
        indptr: CSR row pointers from context id to entries, per level ``k >= 2``.
        unigram: the dense level-1 distribution ``B`` (interpolated with uniform).
        order: token ids by decreasing ``B`` (stable).
        rank: position of each token in ``order``.
    """

    contexts: list[np.ndarray]
    keys: list[np.ndarray]
    alpha: list[np.ndarray]
    gamma: list[np.ndarray]
    indptr: list[np.ndarray]
    unigram: np.ndarray
    order: np.ndarray
    rank: np.ndarray


@dataclass(frozen=True)
class _Dense:
    """The unigram level in sampling form for one temperature.

    Attributes:
        temperature: the temperature applied.
        weights: ``(unigram / max unigram) ** (1 / temperature)`` in rank order (decreasing).
        cum: cumulative sum of ``weights`` with a leading 0.
        tie_end: for each rank, one past the last rank with the same weight.
    """

    temperature: float
    weights: np.ndarray
    cum: np.ndarray
    tie_end: np.ndarray


@dataclass
class _Step:
    """One step's next-token distributions in sampling form (all rows at once).

    Row ``i`` gives the token of rank ``r`` the unnormalised weight
    ``dense.weights[r] * (r < limit[i])`` plus its sparse ``extra`` if it has one (flat
    entries ``rows, ranks, extra`` grouped by row with pointers ``offsets``); ``total[i]``
    is the row's sum.
    """

    rows: np.ndarray
    ranks: np.ndarray
    extra: np.ndarray
    offsets: np.ndarray
    limit: np.ndarray
    total: np.ndarray


def _check_sampling(temperature: float, top_p: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def _argsort_small(keys: np.ndarray, upper: int) -> np.ndarray:
    """Stable argsort of non-negative integers ``<= upper`` (radix sort when they fit 16 bits)."""
    if upper < 2**16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    return np.argsort(keys, kind="stable")


def _nucleus(
    rows: np.ndarray,
    ranks: np.ndarray,
    offsets: np.ndarray,
    q: np.ndarray,
    e: np.ndarray,
    total: np.ndarray,
    top_p: float,
    dense: _Dense,
) -> np.ndarray:
    """Per-row nucleus threshold.

    Row ``i`` gives each of its sparse tokens ``j`` the value ``q[j]`` (its dense value
    ``e[j] = w[ranks[j]]`` is part of it; ``w = dense.weights``, decreasing) and every other
    token the dense value ``w`` of its rank. With ``F(x)`` the row's total value ``>= x``,
    the threshold is the largest value ``x`` with ``F(x) >= top_p * total``; the nucleus is
    every token valued ``>= x``.

    At a dense value ``x = w[k]``, ``F = cum[c] - E(c) + Q(k)`` with ``c`` the number of
    dense values ``>= x``, ``E(c)`` the dense values of the row's sparse tokens of rank
    below ``c`` (a prefix: sparse tokens come sorted by rank) and ``Q(k)`` the sparse values
    ``>= w[k]`` (a prefix once sparse tokens are bucketed by the dense interval they fall
    in). The smallest such ``k`` with ``F >= top_p * total`` is found by bisection; then
    the only better candidates are the sparse values in ``(w[k], w[k - 1])``, sorted exactly.

    Returns:
        The threshold per row (``-inf`` keeps everything).
    """
    n_rows, v = len(total), len(dense.weights)
    width = v + 1
    starts, all_rows = offsets[:-1], np.arange(n_rows)
    scale = 1.0 / total  # sums are kept in units of the row total
    e_key = rows * width + ranks
    e_cum = np.concatenate([[0.0], np.cumsum(e * scale[rows])])
    # Bucket = number of dense values strictly above q; sort by (row, bucket).
    bucket = np.searchsorted(-dense.weights, -q, side="left")
    order = _argsort_small(bucket, v)
    order = order[_argsort_small(rows[order], n_rows)]
    q_sorted, bucket = q[order], bucket[order]
    q_key = rows * width + bucket
    q_cum = np.concatenate([[0.0], np.cumsum(q_sorted * scale[rows])])

    e_start, q_start, row_key = e_cum[starts], q_cum[starts], all_rows * width

    def reach(count: np.ndarray, q_end: np.ndarray) -> np.ndarray:
        """F of every row in units of its total: ``count`` dense values, sparse to ``q_end``."""
        e_end = np.searchsorted(e_key, row_key + count, side="left")
        sparse = q_cum[q_end] - q_start - e_cum[e_end] + e_start
        return dense.cum[count] * scale + sparse

    low, high = np.zeros(n_rows, dtype=np.int64), np.full(n_rows, v, dtype=np.int64)
    while (low < high).any():
        # Settled rows re-test their answer (still true) or, if none passes, only move low.
        mid = (low + high) // 2
        mid_safe = np.minimum(mid, v - 1)
        q_end = np.searchsorted(q_key, row_key + mid_safe, side="right")
        ok = reach(dense.tie_end[mid_safe], q_end) >= top_p
        high = np.where(ok, np.minimum(mid, high), high)
        low = np.where(ok, low, np.maximum(mid + 1, low))
    k_star = np.minimum(high, v - 1)
    tau = np.where(high < v, dense.weights[k_star], -np.inf)
    # Sparse values in the bucket of k_star lie in [w[k], w[k - 1]): check them exactly.
    band_start = np.searchsorted(q_key, row_key + k_star, side="left")
    band_end = np.searchsorted(q_key, row_key + k_star, side="right")
    band_rows, band = _segments(band_start, np.where(high < v, band_end - band_start, 0))
    if len(band):
        band_q = q_sorted[band]
        inside = band_q > tau[band_rows]
        band_rows, band_q = band_rows[inside], band_q[inside]
        by_value = np.argsort(-band_q)  # ties in any order: F is exact at a tie's last
        by_value = by_value[_argsort_small(band_rows[by_value], n_rows)]
        band_rows, band_q = band_rows[by_value], band_q[by_value]
        base = reach(k_star, band_start)
        counts = np.bincount(band_rows, minlength=n_rows)
        band_offsets = _exclusive_cumsum(counts)
        cum = np.concatenate([[0.0], np.cumsum(band_q * scale[band_rows])])
        within = cum[1:] - cum[band_offsets[band_rows]]
        passing = base[band_rows] + within >= top_p
        failing = np.bincount(band_rows, weights=~passing, minlength=n_rows).astype(np.int64)
        found = failing < counts
        first = np.minimum(band_offsets[:-1] + failing, max(len(band_q) - 1, 0))
        tau = np.where(found, band_q[first] if len(band_q) else tau, tau)
    return tau


class NGramLM:
    """Interpolated Kneser-Ney n-gram model (implements :class:`society.lm.base.LanguageModel`).

    Args:
        tokenizer: the run's shared tokenizer (its ``eos_id`` pads and ends every text).
        order: n-gram order (1 = unigram).
        discount: absolute discount ``D`` subtracted from every count (clipped at zero).
        memory: share of the previous counts kept by :meth:`update` (0 = refit on new texts).
    """

    def __init__(
        self,
        tokenizer: SharedTokenizer,
        order: int = 3,
        discount: float = 0.75,
        memory: float = 0.0,
    ) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if discount <= 0:
            raise ValueError(f"discount must be > 0, got {discount}")
        if not 0 <= memory <= 1:
            raise ValueError(f"memory must be in [0, 1], got {memory}")
        self.tokenizer = tokenizer
        self.order = int(order)
        self.discount = float(discount)
        self.memory = float(memory)
        self.vocab_size = int(tokenizer.vocab_size)
        self.eos_id = int(tokenizer.eos_id)
        self._set_counts(np.zeros((0, self.order), dtype=np.int32), np.zeros(0, dtype=np.float64))

    # ------------------------------------------------------------------ training

    def fit(self, texts: Sequence[str]) -> None:
        """Count the n-grams of ``texts`` from scratch.

        Args:
            texts: training texts.
        """
        windows, _ = self._windows(texts)
        keys = _lex_keys(windows, self.vocab_size)
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        self._set_counts(windows[first], counts.astype(np.float64))

    def update(self, texts: Sequence[str]) -> None:
        """Set counts to ``memory * current counts + counts(texts)``.

        Counts that fall below :data:`MIN_COUNT` are dropped.

        Args:
            texts: new training texts.
        """
        windows, _ = self._windows(texts)
        rows = np.concatenate([self._grams, windows])
        weights = np.concatenate([self.memory * self._counts, np.ones(len(windows))])
        keys = _lex_keys(rows, self.vocab_size)
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        counts = _snap(np.bincount(inverse, weights=weights, minlength=len(first)))
        keep = counts >= MIN_COUNT
        self._set_counts(rows[first[keep]], counts[keep])

    def _windows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All padded n-gram windows of ``texts``, one per predicted token.

        Returns:
            ``(P, order)`` int32 windows (context then predicted token) and the text index of
            each window. Each text contributes ``len(ids) + 1`` windows (the last predicts
            the end-of-text id).
        """
        ids = self.tokenizer.encode_batch(list(texts)) if len(texts) else []
        lengths = np.fromiter((len(a) for a in ids), dtype=np.int64, count=len(ids))
        pad = self.order - 1
        seg = _exclusive_cumsum(lengths + pad + 1)
        stream = np.full(seg[-1], self.eos_id, dtype=np.int32)
        if lengths.sum():
            _, at = _segments(seg[:-1] + pad, lengths)
            stream[at] = np.concatenate(ids)
        text_index, targets = _segments(seg[:-1] + pad, lengths + 1)
        windows = stream[targets[:, None] + np.arange(-pad, 1)]
        return windows, text_index

    def _set_counts(self, grams: np.ndarray, counts: np.ndarray) -> None:
        grams = np.ascontiguousarray(grams, dtype=np.int32)
        counts = np.asarray(counts, dtype=np.float64)
        grams.flags.writeable = False
        counts.flags.writeable = False
        self._grams = grams
        self._counts = counts
        self._tables = self._build(grams, counts)

    def _build(self, grams: np.ndarray, counts: np.ndarray) -> _Tables:
        """Derive the Kneser-Ney lookup tables from the n-gram counts."""
        n, v, d = self.order, self.vocab_size, self.discount
        # Suffix-chained context ids: cid[m] numbers each row's context of length m.
        cid = [np.zeros(len(grams), dtype=np.int64)]
        contexts = []
        for m in range(1, n):
            key = cid[-1] * v + grams[:, n - 1 - m]
            uniq, inv = _unique_small(key, v) if m == 1 else np.unique(key, return_inverse=True)
            contexts.append(uniq)
            cid.append(inv.astype(np.int64))
        # Level k entries: (context of length k - 1, next token), raw counts per entry.
        last = grams[:, n - 1].astype(np.int64)
        entries, inverse, raw = [], [], []
        for k in range(1, n + 1):
            key = cid[k - 1] * v + last
            uniq, inv = _unique_small(key, v) if k == 1 else np.unique(key, return_inverse=True)
            entries.append(uniq)
            inverse.append(inv)
            raw.append(_snap(np.bincount(inv, weights=counts, minlength=len(uniq))))
        # Highest level: raw counts; lower levels: continuation counts.
        adjusted = [np.empty(0)] * n
        adjusted[n - 1] = raw[n - 1]
        for k in range(n - 1, 0, -1):
            parent = np.empty(len(entries[k]), dtype=np.int64)
            parent[inverse[k]] = inverse[k - 1]
            adjusted[k - 1] = _snap(
                np.bincount(parent, weights=np.minimum(raw[k], 1.0), minlength=len(entries[k - 1]))
            )
        # Level 1 (interpolated with uniform) fixes the dense order every row shares.
        unigram = np.full(v, 1.0 / v)
        if len(grams):
            alpha, gamma, _ = _discounted(adjusted[0], np.zeros(len(entries[0]), np.int64), 1, d)
            unigram = np.full(v, gamma[0] / v)
            unigram[entries[0]] += alpha
        order = np.argsort(-unigram, kind="stable")
        rank = np.empty(v, dtype=np.int64)
        rank[order] = np.arange(v)
        # Levels k >= 2, keyed by (context id, rank of the next token).
        keys, alphas, gammas, indptrs = [], [], [], []
        for k in range(2, n + 1):
            ctx = entries[k - 1] // v
            alpha, gamma, indptr = _discounted(adjusted[k - 1], ctx, len(contexts[k - 2]), d)
            ranked = ctx * v + rank[entries[k - 1] - ctx * v]
            perm = np.argsort(ranked, kind="stable")
            keys.append(ranked[perm])
            alphas.append(alpha[perm])
            gammas.append(gamma)
            indptrs.append(indptr)
        tables = _Tables(contexts, keys, alphas, gammas, indptrs, unigram, order, rank)
        for arrays in (contexts, keys, alphas, gammas, indptrs, [unigram, order, rank]):
            for arr in arrays:
                arr.flags.writeable = False
        return tables

    # ------------------------------------------------------------------ probabilities

    def _context_ids(self, contexts: np.ndarray) -> np.ndarray:
        """Look up the suffix contexts of each row.

        Args:
            contexts: ``(n, order - 1)`` token ids, oldest first.

        Returns:
            ``(n, order)`` ids: column ``m`` is the id of the row's last ``m`` tokens
            (-1 if unseen; column 0 is the empty context, always 0).
        """
        v, n = self.vocab_size, self.order
        cid = np.zeros((len(contexts), n), dtype=np.int64)
        for m in range(1, n):
            table = self._tables.contexts[m - 1]
            if len(table) == 0:
                cid[:, m] = -1
                continue
            prev = cid[:, m - 1]
            key = prev * v + contexts[:, n - 1 - m]
            pos = np.minimum(np.searchsorted(table, key), len(table) - 1)
            cid[:, m] = np.where((prev >= 0) & (table[pos] == key), pos, -1)
        return cid

    def _check_contexts(self, context_ids: np.ndarray) -> np.ndarray:
        contexts = np.asarray(context_ids, dtype=np.int64)
        if contexts.ndim != 2 or contexts.shape[1] != self.order - 1:
            raise ValueError(f"context_ids must have shape (n, {self.order - 1})")
        return contexts

    def _sparse_rows(
        self, contexts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Next-token distributions as ``beta[i] * unigram + sparse row i``.

        Args:
            contexts: ``(n, order - 1)`` token ids.

        Returns:
            ``(rows, ranks, values, offsets, beta)``: the sparse entries (token ranks in the
            unigram order, increasing within each row) grouped by row with ``n + 1`` row
            pointers ``offsets``, and the per-row weight of the unigram level.
        """
        n_rows, v, t = len(contexts), self.vocab_size, self._tables
        beta = np.ones(n_rows)
        if self.order == 1 or len(t.keys[0]) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0), np.zeros(n_rows + 1, dtype=np.int64), beta
        cid = self._context_ids(contexts)
        # The bigram context's entries frame the row: higher levels are subsets of them.
        c1 = cid[:, 1]
        seen = c1 >= 0
        c1_safe = np.where(seen, c1, 0)
        start = np.where(seen, t.indptr[0][c1_safe], 0)
        length = np.where(seen, t.indptr[0][c1_safe + 1] - start, 0)
        rows, flat = _segments(start, length)
        offsets = _exclusive_cumsum(length)
        ranks = t.keys[0][flat] - c1[rows] * v
        values = t.alpha[0][flat]
        beta = np.where(seen, t.gamma[0][c1_safe], 1.0)
        for k in range(3, self.order + 1):
            ck = cid[:, k - 1]
            seen_k = ck >= 0
            ck_safe = np.where(seen_k, ck, 0)
            indptr = t.indptr[k - 2]
            gamma = np.where(seen_k, t.gamma[k - 2][ck_safe], 1.0)
            start_k = np.where(seen_k, indptr[ck_safe], 0)
            length_k = np.where(seen_k, indptr[ck_safe + 1] - start_k, 0)
            rows_k, flat_k = _segments(start_k, length_k)
            ranks_k = t.keys[k - 2][flat_k] - ck[rows_k] * v
            at = np.searchsorted(t.keys[0], c1[rows_k] * v + ranks_k)
            at += offsets[rows_k] - start[rows_k]
            values = values * gamma[rows]
            values[at] += t.alpha[k - 2][flat_k]
            beta = beta * gamma
        return rows, ranks, values, offsets, beta

    def next_token_probs(self, context_ids: np.ndarray) -> np.ndarray:
        """Dense next-token distributions.

        Args:
            context_ids: ``(n, order - 1)`` token ids, oldest first (pad with ``eos_id``).

        Returns:
            ``(n, V)`` probabilities; each row sums to 1.
        """
        contexts = self._check_contexts(context_ids)
        rows, ranks, values, _, beta = self._sparse_rows(contexts)
        probs = beta[:, None] * self._tables.unigram[None, :]
        probs[rows, self._tables.order[ranks]] += values
        return probs

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Log-likelihood of each text, its end-of-text token included.

        Args:
            texts: texts to score.

        Returns:
            Per-text total log-likelihood in nats (float64) and per-text scored token
            counts (tokens + 1).
        """
        windows, text_index = self._windows(texts)
        v, t = self.vocab_size, self._tables
        word = windows[:, -1].astype(np.int64)
        ranked = t.rank[word]
        cid = self._context_ids(windows[:, :-1].astype(np.int64))
        prob = t.unigram[word]
        for k in range(2, self.order + 1):
            table = t.keys[k - 2]
            if len(table) == 0:
                continue
            ck = cid[:, k - 1]
            seen = ck >= 0
            gamma = np.where(seen, t.gamma[k - 2][np.where(seen, ck, 0)], 1.0)
            key = ck * v + ranked
            pos = np.minimum(np.searchsorted(table, key), len(table) - 1)
            alpha = np.where(seen & (table[pos] == key), t.alpha[k - 2][pos], 0.0)
            prob = alpha + gamma * prob
        n = len(texts)
        loglik = np.bincount(text_index, weights=np.log(prob), minlength=n)
        ntokens = np.bincount(text_index, minlength=n).astype(np.int64)
        return loglik, ntokens

    # ------------------------------------------------------------------ sampling

    def _dense_weights(self, temperature: float) -> _Dense:
        """Return the unigram level after temperature, normalised by its maximum."""
        t = self._tables
        ratio = t.unigram[t.order] / t.unigram[t.order[0]]
        with np.errstate(under="ignore"):
            weights = ratio if temperature == 1.0 else ratio ** (1.0 / temperature)
        cum = np.concatenate([[0.0], np.cumsum(weights)])
        tie_end = np.searchsorted(-weights, -weights, side="right")
        return _Dense(temperature, weights, cum, tie_end)

    def _step(self, contexts: np.ndarray, top_p: float, dense: _Dense) -> _Step:
        """Next-token distributions after temperature and nucleus truncation.

        Works in units where every row's dense part is exactly ``dense.weights``, so a row's
        sparse values and the shared, sorted dense values compare exactly.
        """
        n_rows, v = len(contexts), self.vocab_size
        unigram_sorted = self._tables.unigram[self._tables.order]
        top = unigram_sorted[0]
        rows, ranks, values, offsets, beta = self._sparse_rows(contexts)
        full = values + beta[rows] * unigram_sorted[ranks]
        if dense.temperature == 1.0:
            q = full / (beta * top)[rows]
        else:
            # (p / peak) ** (1 / T) cannot overflow; the dense scale c may underflow (clipped,
            # it then weighs ~1e-300 against the row's peak of 1).
            peak = _segment_max(full, offsets, beta * top)
            with np.errstate(under="ignore"):
                q = (full / peak[rows]) ** (1.0 / dense.temperature)
                c = (beta * top / peak) ** (1.0 / dense.temperature)
            q = q / np.maximum(c, _TINY)[rows]
        e = dense.weights[ranks]
        # An entry that adds nothing is exactly tied with its dense value (keep the tie).
        q = np.where(values > 0, np.maximum(q, e), e)
        limit = np.full(n_rows, v, dtype=np.int64)
        if top_p < 1.0:
            total = dense.cum[-1] + np.bincount(rows, weights=q - e, minlength=n_rows)
            tau = _nucleus(rows, ranks, offsets, q, e, total, top_p, dense)
            limit = np.searchsorted(-dense.weights, -tau, side="right")
            keep_q = q >= tau[rows]
            keep_e = e >= tau[rows]
            extra = np.where(keep_q, q, 0.0) - np.where(keep_e, e, 0.0)
        else:
            extra = q - e
        total = dense.cum[limit] + np.bincount(rows, weights=extra, minlength=n_rows)
        return _Step(rows, ranks, extra, offsets, limit, total)

    def _draw(self, step: _Step, u: np.ndarray, dense: _Dense) -> np.ndarray:
        """Inverse-CDF draw of one token per row of ``step`` with uniforms ``u``."""
        target = u * step.total
        sparse_mass = step.total - dense.cum[step.limit]
        starts, ends = step.offsets[:-1], step.offsets[1:]
        k = np.searchsorted(dense.cum, target - sparse_mass, side="right") - 1
        ranks = np.clip(k, 0, np.maximum(step.limit - 1, 0))
        use_sparse = (target < sparse_mass) & (ends > starts)
        if use_sparse.any():
            share = step.extra / step.total[step.rows]
            cum = np.concatenate([[0.0], np.cumsum(share)])
            idx = np.searchsorted(cum, cum[starts] + u, side="right") - 1
            idx = np.clip(idx, starts, np.maximum(ends - 1, starts))
            idx = np.minimum(idx, len(step.ranks) - 1)
            ranks = np.where(use_sparse, step.ranks[idx], ranks)
        return self._tables.order[ranks]

    def sampling_probs(
        self, context_ids: np.ndarray, *, temperature: float = 1.0, top_p: float = 1.0
    ) -> np.ndarray:
        """Dense form of the distributions :meth:`sample` draws from.

        Args:
            context_ids: ``(n, order - 1)`` token ids, oldest first.
            temperature: softmax temperature (``p ** (1 / T)`` renormalised).
            top_p: nucleus mass kept: the smallest set of most probable tokens whose mass
                reaches ``top_p`` (tokens tied with the least probable one are kept too).

        Returns:
            ``(n, V)`` probabilities.
        """
        _check_sampling(temperature, top_p)
        contexts = self._check_contexts(context_ids)
        dense = self._dense_weights(temperature)
        step = self._step(contexts, top_p, dense)
        kept = np.arange(self.vocab_size)[None, :] < step.limit[:, None]
        by_rank = np.where(kept, dense.weights[None, :], 0.0)
        by_rank[step.rows, step.ranks] += step.extra
        probs = np.empty_like(by_rank)
        probs[:, self._tables.order] = by_rank / step.total[:, None]
        return probs

    def sample(
        self,
        n: int,
        *,
        rng: np.random.Generator,
        max_tokens: int = 40,
        temperature: float = 1.0,
        top_p: float = 1.0,
        prompts: Sequence[str] | None = None,
    ) -> list[str]:
        """Generate ``n`` texts in parallel, one vectorised step per position.

        Args:
            n: number of texts.
            rng: the only source of randomness (one uniform per unfinished text and step).
            max_tokens: maximum number of generated tokens per text.
            temperature: softmax temperature (``p ** (1 / T)`` renormalised); must be > 0.
            top_p: nucleus mass kept (1 keeps the whole vocabulary).
            prompts: optional starting text for each sequence (``n`` of them).

        Returns:
            The decoded continuations (prompts excluded; generation stops at end-of-text).
        """
        _check_sampling(temperature, top_p)
        pad = self.order - 1
        if prompts is None:
            contexts = np.full((n, pad), self.eos_id, dtype=np.int64)
        else:
            if len(prompts) != n:
                raise ValueError(f"got {len(prompts)} prompts for {n} texts")
            windows, text_index = self._windows(prompts)
            # Each prompt's last window predicts the token after it: its context is ours.
            last = np.flatnonzero(np.diff(np.append(text_index, n)) != 0)
            contexts = windows[last, :pad].astype(np.int64)
        dense = self._dense_weights(temperature)
        out = np.zeros((n, max_tokens), dtype=np.int64)
        lengths = np.zeros(n, dtype=np.int64)
        active = np.arange(n)
        for position in range(max_tokens):
            if len(active) == 0:
                break
            step = self._step(contexts[active], top_p, dense)
            tokens = self._draw(step, rng.random(len(active)), dense)
            going = tokens != self.eos_id
            active, tokens = active[going], tokens[going]
            out[active, position] = tokens
            lengths[active] += 1
            if pad:
                contexts[active, :-1] = contexts[active, 1:]
                contexts[active, -1] = tokens
        return self.tokenizer.decode_batch([out[i, : lengths[i]] for i in range(n)])

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, np.ndarray]:
        """Return the counts and hyperparameters as a flat dict of arrays.

        Returns:
            ``order``, ``discount``, ``memory``, ``vocab_size`` (0-d arrays), ``grams``
            (``(M, order)`` int32 n-grams) and ``counts`` (``(M,)`` float64).
        """
        return {
            "order": np.array(self.order, dtype=np.int64),
            "discount": np.array(self.discount, dtype=np.float64),
            "memory": np.array(self.memory, dtype=np.float64),
            "vocab_size": np.array(self.vocab_size, dtype=np.int64),
            "grams": self._grams.copy(),
            "counts": self._counts.copy(),
        }

    def load(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state produced by :meth:`state`.

        Args:
            state: the arrays returned by :meth:`state`.

        Raises:
            ValueError: if the state was made with a different vocabulary size.
        """
        vocab_size = int(state["vocab_size"])
        if vocab_size != self.vocab_size:
            raise ValueError(
                f"state has vocabulary size {vocab_size}, tokenizer has {self.vocab_size}"
            )
        self.order = int(state["order"])
        self.discount = float(state["discount"])
        self.memory = float(state["memory"])
        grams = np.asarray(state["grams"], dtype=np.int32).reshape(-1, self.order)
        self._set_counts(grams.copy(), np.array(state["counts"], dtype=np.float64))

    def clone(self) -> NGramLM:
        """Return an independent copy (arrays are read-only, so they are shared safely).

        Returns:
            A model with the same tokenizer, hyperparameters and counts.
        """
        other = object.__new__(NGramLM)
        other.__dict__.update(self.__dict__)
        return other
