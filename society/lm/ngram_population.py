"""Many n-gram agents at once: population tables, batched sampling, learning and scoring.

A society of ``A`` n-gram agents samples ``A`` small batches per position; one numpy call
per agent and step costs more than the arithmetic. This module runs the per-agent code of
:class:`society.lm.ngram.NGramLM` on all agents' rows at once, giving the same results bit
for bit:

* **Population tables** (:class:`PopulationTables`): the agents' ``_Tables`` concatenated
  with globally numbered contexts. Agent ``a``'s empty context has global id ``a``; a context
  of length ``m`` has the key ``global id of its suffix * V + its first token`` and an entry
  of level ``k`` the key ``global context id * V + rank``. Agents' blocks are increasing, so
  every key array stays sorted and the per-agent lookups become one ``searchsorted``.
  The dense per-agent parts (unigram in rank order, order, rank, tempered weights, their
  cumulative sums) are ``(agents, V)`` arrays; agents are processed in chunks of
  :data:`CHUNK_AGENTS` so memory stays bounded.
* Where the per-agent code searches an agent's dense arrays, a row-wise bisection
  (:func:`bisect_rows`) gives ``np.searchsorted``'s answer; where it takes a cumulative
  sum across an agent's rows, :func:`segment_cumsum` takes it per agent, sequentially like
  ``np.cumsum`` (a padded ``segments x length`` layout summed along axis 1), so every sum
  is the same float.
* Each request keeps its own ``rng``: per agent and step one ``rng.random`` call for its
  unfinished texts, then one for its UTF-8 redraws, as :meth:`NGramLM.sample` draws them.

Speed: bit equality fixes the arithmetic (every per-entry operation and sum of the
per-agent code is done once, in the same order), so batching only saves numpy call
overhead. On the KJV at V=2000 an agent's bigram table has ~36,000 entries and one
sampling step of 100 texts touches thousands of them (about 1 ms of work), so the saving
is small: CPU seconds for one speak of 1,000 agents were 30.7 one by one and 31.6 together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from society.lm.ngram_fused import FlatTables, SlotCache, redraw_default, score_probs
from society.lm.ngram_kernels import (
    _TINY,
    MIN_COUNT,
    _exclusive_cumsum,
    _lex_keys,
    _segment_max,
    _segments,
    _snap,
    merged_rows,
    pick_by_cdf,
    runs,
)
from society.lm.request import SpeechRequest
from society.lm.utf8 import REJECT

NGramLM = Any
"""The models are :class:`society.lm.ngram.NGramLM` (not imported: it imports this module)."""

CHUNK_AGENTS = 16
"""Agents sampled or scored together. An agent's step touches thousands of sparse entries
(36,000 bigram entries per agent on the KJV at V=2000), so a few agents per chunk already
make the per-call cost small, while bigger chunks fall out of the CPU caches (measured:
no faster at 128 or 512 agents, and 9 GB peak with 512 of 1,000 agents)."""

SHARED_CHUNK_AGENTS = 1024
"""Agents sampled together at most when they share tables (one table's rows are built once
per step for all its agents' texts with the same context)."""


# ---------------------------------------------------------------------- exact helpers


def segment_cumsum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per segment ``[0, *np.cumsum(values[segment])]``, the same floats, flattened.

    One ``np.cumsum`` per segment (an agent's entries: thousands of values, so the call
    costs little next to the sum); a cumulative sum over all segments at once would carry
    each segment's rounding into the next.

    Args:
        values: flat values, segment after segment.
        offsets: ``(S + 1,)`` segment pointers into ``values``.

    Returns:
        ``len(values) + S`` sums: segment ``s`` occupies ``offsets[s] + s`` to
        ``offsets[s + 1] + s`` inclusive (its leading 0 first).
    """
    out = np.zeros(len(values) + len(offsets) - 1)
    bounds = offsets.tolist()
    for s in range(len(bounds) - 1):
        lo, hi = bounds[s], bounds[s + 1]
        if hi > lo:
            np.cumsum(values[lo:hi], out=out[lo + s + 1 : hi + s + 1])
    return out


def bisect_rows(
    table: np.ndarray, lo: np.ndarray, hi: np.ndarray, x: np.ndarray, side: str = "left"
) -> np.ndarray:
    """Row-wise ``lo + np.searchsorted(table[lo:hi], x, side)`` for sorted slices.

    Args:
        table: flat array, ascending within each slice.
        lo: slice starts.
        hi: slice ends (exclusive).
        x: one value per slice.
        side: as for ``np.searchsorted``.

    Returns:
        Absolute insertion positions in ``table``.
    """
    lo = np.array(lo, dtype=np.int64)
    hi = np.array(hi, dtype=np.int64)
    x = np.asarray(x)
    live = np.flatnonzero(lo < hi)
    while len(live):
        a, b = lo[live], hi[live]
        mid = (a + b) // 2
        value = table[mid]
        go_right = value <= x[live] if side == "right" else value < x[live]
        lo[live] = np.where(go_right, mid + 1, a)
        hi[live] = np.where(go_right, b, mid)
        live = live[lo[live] < hi[live]]
    return lo


# ---------------------------------------------------------------------- tables


@dataclass
class PopulationTables:
    """Many agents' lookup tables with globally numbered contexts (see module docstring).

    Attributes:
        contexts: per length ``m``, the sorted global context keys.
        keys: per level ``k >= 2``, sorted global entry keys.
        alpha: per level ``k >= 2``, the entries' discounted shares.
        gamma: per level ``k >= 2``, the contexts' back-off weights.
        indptr: per level ``k >= 2``, global CSR pointers from context to entries.
        unigram: ``(A, V)`` unigram levels by token id.
        unigram_sorted: ``(A, V)`` unigram levels in rank order.
        order: ``(A, V)`` token ids by rank.
        rank: ``(A, V)`` rank of each token.
    """

    contexts: list[np.ndarray]
    keys: list[np.ndarray]
    alpha: list[np.ndarray]
    gamma: list[np.ndarray]
    indptr: list[np.ndarray]
    unigram: np.ndarray
    unigram_sorted: np.ndarray
    order: np.ndarray
    rank: np.ndarray

    @classmethod
    def build(cls, models: Sequence[NGramLM]) -> PopulationTables:
        """Concatenate the tables of ``models`` (one order, one vocabulary)."""
        n, v = models[0].order, models[0].vocab_size
        tables = [m._tables for m in models]
        # off[m][a]: global id of agent a's first context of length m (m = 0: a itself).
        off = [np.arange(len(models) + 1, dtype=np.int64)]
        for m in range(1, n):
            off.append(_exclusive_cumsum(np.array([len(t.contexts[m - 1]) for t in tables])))
        contexts = [
            np.concatenate([t.contexts[m - 1] + off[m - 1][a] * v for a, t in enumerate(tables)])
            for m in range(1, n)
        ]
        keys, alpha, gamma, indptr = [], [], [], []
        for k in range(2, n + 1):
            ctx_off = off[k - 1]
            keys.append(
                np.concatenate([t.keys[k - 2] + ctx_off[a] * v for a, t in enumerate(tables)])
            )
            alpha.append(np.concatenate([t.alpha[k - 2] for t in tables]))
            gamma.append(np.concatenate([t.gamma[k - 2] for t in tables]))
            entry_off = _exclusive_cumsum(np.array([len(t.keys[k - 2]) for t in tables]))
            parts = [t.indptr[k - 2][:-1] + entry_off[a] for a, t in enumerate(tables)]
            indptr.append(np.concatenate([*parts, entry_off[-1:]]))
        unigram = np.stack([t.unigram for t in tables])
        order = np.stack([t.order for t in tables])
        rank = np.stack([t.rank for t in tables])
        unigram_sorted = np.take_along_axis(unigram, order, axis=1)
        return cls(contexts, keys, alpha, gamma, indptr, unigram, unigram_sorted, order, rank)

    def flat(self) -> FlatTables:
        """The levels concatenated for the compiled kernels (:mod:`society.lm.ngram_fused`)."""
        v = self.unigram.shape[1]
        # the parents of length m's contexts: those of length m - 1 (m = 1: the tables)
        parents = [len(self.unigram), *map(len, self.contexts)][: len(self.contexts)]
        children = [
            np.searchsorted(c, np.arange(p + 1, dtype=np.int64) * v)  # keys are parent * v + t
            for c, p in zip(self.contexts, parents, strict=True)
        ]
        return FlatTables(
            *_flat_levels(self.contexts, np.int64),
            *_flat_levels(self.keys, np.int64),
            *_flat_levels(self.alpha, np.float64)[:1],
            *_flat_levels(self.gamma, np.float64),
            *_flat_levels(self.indptr, np.int64),
            *_flat_levels(children, np.int64),
        )

    def context_ids(self, contexts: np.ndarray, agent: np.ndarray, v: int) -> np.ndarray:
        """Global suffix context ids of each row (``NGramLM._context_ids``; -1 unseen)."""
        n = len(self.contexts) + 1
        cid = np.zeros((len(contexts), n), dtype=np.int64)
        cid[:, 0] = agent
        for m in range(1, n):
            table = self.contexts[m - 1]
            if len(table) == 0:
                cid[:, m] = -1
                continue
            prev = cid[:, m - 1]
            key = prev * v + contexts[:, n - 1 - m]
            pos = np.minimum(np.searchsorted(table, key), len(table) - 1)
            cid[:, m] = np.where((prev >= 0) & (table[pos] == key), pos, -1)
        return cid

    def sparse_rows(
        self, contexts: np.ndarray, agent: np.ndarray, v: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``NGramLM._sparse_rows`` for rows of many agents (``agent`` per row)."""
        n_rows, n = len(contexts), len(self.contexts) + 1
        beta = np.ones(n_rows)
        if n == 1 or len(self.keys[0]) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0), np.zeros(n_rows + 1, dtype=np.int64), beta
        cid = self.context_ids(contexts, agent, v)
        return merged_rows(cid, self.keys, self.alpha, self.gamma, self.indptr, v)


def _flat_levels(levels: list[np.ndarray], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Arrays one after another, and their ``(len(levels) + 1,)`` start pointers."""
    ptr = _exclusive_cumsum(np.array([len(x) for x in levels], dtype=np.int64))
    flat = np.concatenate(levels).astype(dtype, copy=False) if levels else np.zeros(0, dtype)
    return flat, ptr


def distinct_tables(models: Sequence[NGramLM]) -> tuple[list[NGramLM], np.ndarray]:
    """One model per distinct table object (clones share theirs), and each model's index."""
    index: dict[int, int] = {}
    firsts: list[NGramLM] = []
    which = np.empty(len(models), dtype=np.int64)
    for i, model in enumerate(models):
        key = id(model._tables)
        if key not in index:
            index[key] = len(firsts)
            firsts.append(model)
        which[i] = index[key]
    return firsts, which


@dataclass
class _DensePop:
    """``NGramLM._dense_weights`` of many agents: ``(A, V)`` weights, ``(A, V + 1)`` cum."""

    temperature: float
    weights: np.ndarray
    neg_weights: np.ndarray
    cum: np.ndarray
    tie_end: np.ndarray

    @classmethod
    def build(cls, pop: PopulationTables, temperature: float) -> _DensePop:
        ratio = pop.unigram_sorted / pop.unigram_sorted[:, :1]
        with np.errstate(under="ignore"):
            weights = ratio if temperature == 1.0 else ratio ** (1.0 / temperature)
        cum = np.zeros((len(weights), weights.shape[1] + 1))
        np.cumsum(weights, axis=1, out=cum[:, 1:])
        # One past the last rank tied with each rank (weights do not increase along a row).
        v = weights.shape[1]
        is_end = np.ones(weights.shape, dtype=bool)
        is_end[:, :-1] = weights[:, 1:] != weights[:, :-1]
        last = np.where(is_end, np.arange(v)[None, :], v)
        tie_end = np.minimum.accumulate(last[:, ::-1], axis=1)[:, ::-1] + 1
        return cls(temperature, weights, -weights, cum, tie_end.astype(np.int64))


@dataclass
class _StepPop:
    rows: np.ndarray
    ranks: np.ndarray
    extra: np.ndarray
    offsets: np.ndarray
    limit: np.ndarray
    total: np.ndarray


def _dense_search(
    flat: np.ndarray, width: int, agent: np.ndarray, x: np.ndarray, side: str
) -> np.ndarray:
    """``np.searchsorted(flat_row_of_agent, x, side)`` per query (rows of ``width``)."""
    lo = agent * width
    return bisect_rows(flat, lo, lo + width, x, side) - lo


def _nucleus_pop(
    rows: np.ndarray,
    ranks: np.ndarray,
    offsets: np.ndarray,
    q: np.ndarray,
    e: np.ndarray,
    total: np.ndarray,
    top_p: float,
    dense: _DensePop,
    row_agent: np.ndarray,
    agent_rows: np.ndarray,
) -> np.ndarray:
    """``society.lm.ngram._nucleus`` for rows of many agents (sums taken per agent)."""
    n_rows, v = len(total), dense.weights.shape[1]
    width = v + 1
    neg_w, cum_flat = dense.neg_weights.ravel(), dense.cum.ravel()
    starts, all_rows = offsets[:-1], np.arange(n_rows)
    scale = 1.0 / total
    agent_entries = offsets[agent_rows]  # entry pointers per agent
    e_key = rows * width + ranks
    e_cum = segment_cumsum(e * scale[rows], agent_entries)
    bucket = _dense_search(neg_w, v, row_agent[rows], -q, "left")
    order = np.argsort(bucket, kind="stable")
    order = order[np.argsort(rows[order], kind="stable")]
    q_sorted, bucket = q[order], bucket[order]
    q_key = rows * width + bucket
    q_cum = segment_cumsum(q_sorted * scale[rows], agent_entries)

    shift = row_agent  # a flat index i of agent a sits at i + a in the per-agent sums
    e_start, q_start, row_key = e_cum[starts + shift], q_cum[starts + shift], all_rows * width
    dense_row = row_agent * width

    def reach(count: np.ndarray, q_end: np.ndarray) -> np.ndarray:
        e_end = np.searchsorted(e_key, row_key + count, side="left")
        sparse = q_cum[q_end + shift] - q_start - e_cum[e_end + shift] + e_start
        return cum_flat[dense_row + count] * scale + sparse

    tie_flat, w_flat = dense.tie_end.ravel(), dense.weights.ravel()
    low, high = np.zeros(n_rows, dtype=np.int64), np.full(n_rows, v, dtype=np.int64)
    while (low < high).any():
        mid = (low + high) // 2
        mid_safe = np.minimum(mid, v - 1)
        q_end = np.searchsorted(q_key, row_key + mid_safe, side="right")
        ok = reach(tie_flat[row_agent * v + mid_safe], q_end) >= top_p
        high = np.where(ok, np.minimum(mid, high), high)
        low = np.where(ok, low, np.maximum(mid + 1, low))
    k_star = np.minimum(high, v - 1)
    tau = np.where(high < v, w_flat[row_agent * v + k_star], -np.inf)
    band_start = np.searchsorted(q_key, row_key + k_star, side="left")
    band_end = np.searchsorted(q_key, row_key + k_star, side="right")
    band_rows, band = _segments(band_start, np.where(high < v, band_end - band_start, 0))
    if len(band):
        band_q = q_sorted[band]
        inside = band_q > tau[band_rows]
        band_rows, band_q = band_rows[inside], band_q[inside]
        by_value = np.argsort(-band_q)
        by_value = by_value[np.argsort(band_rows[by_value], kind="stable")]
        band_rows, band_q = band_rows[by_value], band_q[by_value]
        base = reach(k_star, band_start)
        counts = np.bincount(band_rows, minlength=n_rows)
        band_offsets = _exclusive_cumsum(counts)
        cum = segment_cumsum(band_q * scale[band_rows], band_offsets[agent_rows])
        band_shift = row_agent[band_rows]
        flat_index = np.arange(len(band_q))
        within = cum[flat_index + 1 + band_shift] - cum[band_offsets[band_rows] + band_shift]
        passing = base[band_rows] + within >= top_p
        failing = np.bincount(band_rows, weights=~passing, minlength=n_rows).astype(np.int64)
        found = failing < counts
        first = np.minimum(band_offsets[:-1] + failing, max(len(band_q) - 1, 0))
        tau = np.where(found, band_q[first] if len(band_q) else tau, tau)
    return tau


def _step_pop(
    pop: PopulationTables,
    contexts: np.ndarray,
    row_agent: np.ndarray,
    agent_rows: np.ndarray,
    top_p: float,
    dense: _DensePop,
) -> _StepPop:
    """``NGramLM._step`` for rows of many agents, grouped by agent (pointers ``agent_rows``)."""
    n_rows, v = len(contexts), dense.weights.shape[1]
    rows, ranks, values, offsets, beta = pop.sparse_rows(contexts, row_agent, v)
    entry_agent = row_agent[rows]
    unigram_sorted = pop.unigram_sorted.ravel()[entry_agent * v + ranks]
    top = pop.unigram_sorted[row_agent, 0]
    full = values + beta[rows] * unigram_sorted
    if dense.temperature == 1.0:
        q = full / (beta * top)[rows]
    else:
        peak = _segment_max(full, offsets, beta * top)
        with np.errstate(under="ignore"):
            q = (full / peak[rows]) ** (1.0 / dense.temperature)
            c = (beta * top / peak) ** (1.0 / dense.temperature)
        q = q / np.maximum(c, _TINY)[rows]
    e = dense.weights.ravel()[entry_agent * v + ranks]
    q = np.where(values > 0, np.maximum(q, e), e)
    limit = np.full(n_rows, v, dtype=np.int64)
    cum_last = dense.cum[row_agent, -1]
    if top_p < 1.0:
        total = cum_last + np.bincount(rows, weights=q - e, minlength=n_rows)
        tau = _nucleus_pop(rows, ranks, offsets, q, e, total, top_p, dense, row_agent, agent_rows)
        limit = _dense_search(dense.neg_weights.ravel(), v, row_agent, -tau, "right")
        keep_q = q >= tau[rows]
        keep_e = e >= tau[rows]
        extra = np.where(keep_q, q, 0.0) - np.where(keep_e, e, 0.0)
    else:
        extra = q - e
    total = dense.cum[row_agent, limit] + np.bincount(rows, weights=extra, minlength=n_rows)
    return _StepPop(rows, ranks, extra, offsets, limit, total)


def _draw_pop(
    pop: PopulationTables,
    step: _StepPop,
    u: np.ndarray,
    dense: _DensePop,
    row_agent: np.ndarray,
    agent_rows: np.ndarray,
) -> np.ndarray:
    """``NGramLM._draw`` for rows of many agents."""
    v = dense.weights.shape[1]
    target = u * step.total
    cum_flat = dense.cum.ravel()
    sparse_mass = step.total - cum_flat[row_agent * (v + 1) + step.limit]
    starts, ends = step.offsets[:-1], step.offsets[1:]
    k = _dense_search(cum_flat, v + 1, row_agent, target - sparse_mass, "right") - 1
    ranks = np.clip(k, 0, np.maximum(step.limit - 1, 0))
    use_sparse = (target < sparse_mass) & (ends > starts)
    if use_sparse.any():
        share = step.extra / step.total[step.rows]
        cum = segment_cumsum(share, step.offsets[agent_rows])
        shift = row_agent
        # The agent's cumulative sums do not decrease: the clipped search of the
        # per-agent code is a search within the row's own entries.
        lo = starts + 1 + shift
        hi = np.maximum(ends + shift, lo)
        idx = starts + bisect_rows(cum, lo, hi, cum[starts + shift] + u, "right") - lo
        idx = np.minimum(idx, len(step.ranks) - 1)
        ranks = np.where(use_sparse, step.ranks[idx], ranks)
    return pop.order[row_agent, ranks]


def _dense_probs_pop(
    pop: PopulationTables, step: _StepPop, which: np.ndarray, dense: _DensePop, row_agent
) -> np.ndarray:
    """``NGramLM._dense_probs`` for rows ``which`` of many agents."""
    v = dense.weights.shape[1]
    starts = step.offsets[which]
    row, entry = _segments(starts, step.offsets[which + 1] - starts)
    agents = row_agent[which]
    kept = np.arange(v)[None, :] < step.limit[which][:, None]
    by_rank = np.where(kept, dense.weights[agents], 0.0)
    by_rank[row, step.ranks[entry]] += step.extra[entry]
    by_rank = by_rank / step.total[which][:, None]
    return np.take_along_axis(by_rank, pop.rank[agents], axis=1)


# ---------------------------------------------------------------------- sampling


def _same_kind(models: Sequence[NGramLM]) -> bool:
    first = models[0]
    return all(
        m.order == first.order
        and m.vocab_size == first.vocab_size
        and m.eos_id == first.eos_id
        and m.tokenizer is first.tokenizer
        for m in models
    )


def sample_together(
    models: Sequence[NGramLM], requests: Sequence[SpeechRequest]
) -> list[list[str]]:
    """``[m.sample(r) for m, r in zip(models, requests)]``, the same texts, in one pass.

    Requests are grouped by temperature, ``top_p`` and ``max_tokens`` and the agents of a
    group sampled together in chunks of :data:`CHUNK_AGENTS`; models of different orders,
    vocabularies or tokenizers fall back to sampling one by one.
    """
    models, requests = list(models), list(requests)
    if len(models) != len(requests):
        raise ValueError(f"got {len(requests)} requests for {len(models)} models")
    if not models or not _same_kind(models):
        return [m.sample(r) for m, r in zip(models, requests, strict=True)]
    for request in requests:
        neural = request.neural_only()
        if neural:
            raise ValueError(f"the n-gram sampler has no {', '.join(neural)}")
    out: list[list[str]] = [[] for _ in models]
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault((r.temperature, r.top_p, r.max_tokens), []).append(i)
    for (temperature, top_p, max_tokens), members in groups.items():
        shared = temperature == 1.0 and top_p == 1.0  # the compiled path: tables shared
        for chunk in _chunks([models[i] for i in members], members, shared):
            said = _sample_chunk(
                [models[i] for i in chunk],
                [requests[i] for i in chunk],
                temperature,
                top_p,
                max_tokens,
            )
            for i, texts in zip(chunk, said, strict=True):
                out[i] = texts
    return out


def _chunks(models: list[NGramLM], members: list[int], shared: bool) -> list[list[int]]:
    """Split ``members`` into the chunks sampled together.

    Chunks of :data:`CHUNK_AGENTS` agents; where clones share tables (``shared``), of
    :data:`CHUNK_AGENTS` distinct tables and at most :data:`SHARED_CHUNK_AGENTS` agents
    (clones of one ancestor then sample together).
    """
    if not shared:
        return [members[i : i + CHUNK_AGENTS] for i in range(0, len(members), CHUNK_AGENTS)]
    chunks: list[list[int]] = [[]]
    tables: set[int] = set()
    for model, member in zip(models, members, strict=True):
        key = id(model._tables)
        full = len(chunks[-1]) >= SHARED_CHUNK_AGENTS
        if full or (key not in tables and len(tables) >= CHUNK_AGENTS):
            chunks.append([])
            tables.clear()
        chunks[-1].append(member)
        tables.add(key)
    return chunks


def _start_contexts(model: NGramLM, requests: Sequence[SpeechRequest]) -> np.ndarray:
    """The first contexts of every request's texts, request after request."""
    pad = model.order - 1
    parts = []
    prompts = [p for r in requests if r.prompts is not None for p in r.prompts]
    if prompts:
        windows, text_index = model._windows(prompts)
        last = np.flatnonzero(np.diff(np.append(text_index, len(prompts))) != 0)
        prompted = windows[last, :pad].astype(np.int64)
    at = 0
    for r in requests:
        if r.prompts is None:
            parts.append(np.full((r.n, pad), model.eos_id, dtype=np.int64))
        else:
            parts.append(prompted[at : at + r.n])
            at += r.n
    return np.concatenate(parts) if parts else np.zeros((0, pad), dtype=np.int64)


def _sample_chunk(
    models: list[NGramLM],
    requests: list[SpeechRequest],
    temperature: float,
    top_p: float,
    max_tokens: int,
) -> list[list[str]]:
    """Sample a chunk of agents sharing temperature, ``top_p`` and ``max_tokens``."""
    first = models[0]
    pad, eos = first.order - 1, first.eos_id
    drawer = _Drawer(models, temperature, top_p)
    sizes = np.array([r.n for r in requests], dtype=np.int64)
    text_agent = np.repeat(np.arange(len(models)), sizes)
    n = int(sizes.sum())
    contexts = _start_contexts(first, requests)
    utf8 = first.tokenizer.utf8
    states = np.zeros(n, dtype=np.int8)
    out = np.zeros((n, max_tokens), dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    active = np.arange(n)
    rngs = [r.rng for r in requests]
    for position in range(max_tokens):
        if len(active) == 0:
            break
        row_agent = text_agent[active]
        per_agent = np.bincount(row_agent, minlength=len(models))
        agent_rows = _exclusive_cumsum(per_agent)
        u = np.concatenate([rngs[a].random(int(per_agent[a])) for a in np.flatnonzero(per_agent)])
        tokens = drawer.draw(contexts[active], row_agent, agent_rows, u)
        after = utf8.advance(states[active], tokens)
        bad = np.flatnonzero(after == REJECT)
        if len(bad):
            rows = active[bad]
            tokens[bad] = drawer.redraw(bad, states[rows], rngs, models, temperature)
            after[bad] = utf8.advance(states[rows], tokens[bad])
        states[active] = after
        going = tokens != eos
        active, tokens = active[going], tokens[going]
        out[active, position] = tokens
        lengths[active] += 1
        if pad:
            contexts[active, :-1] = contexts[active, 1:]
            contexts[active, -1] = tokens
    texts = first.tokenizer.decode_rows(out, lengths)
    bounds = _exclusive_cumsum(sizes)
    return [texts[bounds[a] : bounds[a + 1]] for a in range(len(models))]


class _Drawer:
    """One sampling step's draws for a chunk of agents, and the dense rows of its refusals.

    At temperature 1 without a nucleus (the default) the compiled kernels
    (:class:`society.lm.ngram_fused.SlotCache`) draw over the chunk's distinct tables
    (clones of one ancestor share theirs), each context's distribution built once for all
    the chunk's steps; otherwise the numpy steps above do. Both give the per-agent draws
    bit for bit.
    """

    def __init__(self, models: list[NGramLM], temperature: float, top_p: float) -> None:
        self.order, self.v = models[0].order, models[0].vocab_size
        self.top_p = top_p
        self.fused = temperature == 1.0 and top_p == 1.0
        if self.fused:
            distinct, self.table_of = distinct_tables(models)
        else:
            distinct, self.table_of = models, np.arange(len(models))
        self.pop = PopulationTables.build(distinct)
        self.dense = _DensePop.build(self.pop, temperature)
        self.flat = self.pop.flat() if self.fused else None
        n_keys = len(distinct) + (int(self.flat.ctx_ptr[-1]) if self.fused else 0)
        self.slots = SlotCache(n_keys)  # the chunk's distributions, built once over its steps
        self.utf8 = models[0].tokenizer.utf8
        self._last: tuple = ()

    def draw(
        self, contexts: np.ndarray, row_agent: np.ndarray, agent_rows: np.ndarray, u: np.ndarray
    ) -> np.ndarray:
        """Token ids drawn for ``contexts`` (rows grouped by agent) with uniforms ``u``."""
        row_table = self.table_of[row_agent]
        if self.fused:
            ranks = self.slots.draw(
                contexts, row_table, agent_rows, u, self.order, self.v, self.flat,
                self.pop.unigram_sorted, self.dense.weights, self.dense.cum,
            )  # fmt: skip
            self._last = (contexts, row_table, agent_rows, None)
            return self.pop.order[row_table, ranks]
        step = _step_pop(self.pop, contexts, row_table, agent_rows, self.top_p, self.dense)
        self._last = (contexts, row_table, agent_rows, step)
        return _draw_pop(self.pop, step, u, self.dense, row_table, agent_rows)

    def redraw(
        self,
        which: np.ndarray,
        states: np.ndarray,
        rngs: list[np.random.Generator],
        models: list[NGramLM],
        temperature: float,
    ) -> np.ndarray:
        """Allowed tokens for rows ``which`` of the last step, whose draw UTF-8 refused.

        Each agent's refused rows take one uniform each from its generator, in row order,
        as ``NGramLM._redraw_valid`` does (rows come grouped by agent).
        """
        contexts, row_table, agent_rows, _ = self._last
        agent = np.searchsorted(agent_rows, which, side="right") - 1
        u = np.empty(len(which))
        for lo, hi in runs(agent):
            u[lo:hi] = rngs[agent[lo]].random(hi - lo)
        tokens = np.full(len(which), -1, dtype=np.int64)
        if self.fused:
            tokens = redraw_default(
                contexts[which], row_table[which], u, self.utf8.allowed(states), self.order,
                self.v, self.flat, self.pop.unigram_sorted, self.dense.weights,
                self.dense.cum, self.pop.rank,
            )  # fmt: skip
        fall = np.flatnonzero(tokens < 0)
        if len(fall):
            probs = self.dense_probs(which[fall])
            for lo, hi in runs(agent[fall]):
                model, at = models[agent[fall[lo]]], fall[lo:hi]
                ctx = contexts[which[at]]
                valid = model._valid_probs(ctx, states[at], probs[lo:hi], temperature)
                tokens[at] = pick_by_cdf(valid, u[at])
        return tokens

    def dense_probs(self, which: np.ndarray) -> np.ndarray:
        """``(len(which), V)`` probabilities of rows ``which`` of the last step, by token id."""
        contexts, row_table, agent_rows, step = self._last
        if step is None:  # the fused kernel keeps no step: rebuild the rows (row-local)
            tables = row_table[which]
            step = _step_pop(self.pop, contexts[which], tables, agent_rows, 1.0, self.dense)
            return _dense_probs_pop(self.pop, step, np.arange(len(which)), self.dense, tables)
        return _dense_probs_pop(self.pop, step, which, self.dense, row_table)


# ---------------------------------------------------------------------- learning


def update_together(models: Sequence[NGramLM], texts: Sequence[Sequence[str]]) -> None:
    """Each ``models[i].update(texts[i])``, counted in one pass; the same tables.

    The texts of each chunk of :data:`CHUNK_AGENTS` agents are tokenised in one call and
    their n-grams counted with one ``unique`` over (agent, n-gram) keys (chunks bound the
    peak memory: the tokenizer's encodings of all texts at once take hundreds of MB);
    each model then derives its tables from its counts.
    """
    models, texts = list(models), [list(t) for t in texts]
    if len(models) != len(texts):
        raise ValueError(f"got {len(texts)} text lists for {len(models)} models")
    if not models:
        return
    if not _same_kind(models):
        for model, data in zip(models, texts, strict=True):
            model.update(data)
        return
    for start in range(0, len(models), CHUNK_AGENTS):
        stop = start + CHUNK_AGENTS
        _update_chunk(models[start:stop], texts[start:stop])


def _update_chunk(models: list[NGramLM], texts: list[list[str]]) -> None:
    """Count a chunk of agents' n-grams with one ``unique`` over (agent, n-gram) keys."""
    first = models[0]
    flat = [t for data in texts for t in data]
    windows, text_index = first._windows(flat)
    text_agent = np.repeat(np.arange(len(models)), [len(d) for d in texts])
    win_agent = text_agent[text_index]
    kept = [len(m._grams) if m.memory else 0 for m in models]  # memory 0 keeps nothing
    old_agent = np.repeat(np.arange(len(models)), kept)
    old_rows = [m._grams[:n] for m, n in zip(models, kept, strict=True)]
    rows = np.concatenate([*old_rows, windows])
    agent = np.concatenate([old_agent, win_agent])
    old_weights = [m.memory * m._counts[:n] for m, n in zip(models, kept, strict=True)]
    weights = np.concatenate([*old_weights, np.ones(len(windows))])
    base = max(first.vocab_size, len(models))
    keys = _lex_keys(np.column_stack([agent, rows]).astype(np.int64), base)
    _, first_at, inverse = np.unique(keys, return_index=True, return_inverse=True)
    counts = _snap(np.bincount(inverse, weights=weights, minlength=len(first_at)))
    keep = counts >= MIN_COUNT
    grams, counts, owner = rows[first_at[keep]], counts[keep], agent[first_at[keep]]
    bounds = np.searchsorted(owner, np.arange(len(models) + 1))
    for a, model in enumerate(models):
        model._set_counts(grams[bounds[a] : bounds[a + 1]], counts[bounds[a] : bounds[a + 1]])


# ---------------------------------------------------------------------- scoring


def score_together(
    models: Sequence[NGramLM], texts: Sequence[Sequence[str]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each ``models[i].score(texts[i])`` over population tables; the same numbers.

    Models that share tables (clones) and score the same texts are scored once, and each
    distinct list of texts is tokenised once (a society scores one held-out set).
    """
    models, texts = list(models), [list(t) for t in texts]
    if len(models) != len(texts):
        raise ValueError(f"got {len(texts)} text lists for {len(models)} models")
    if not models or not _same_kind(models):
        return [m.score(d) for m, d in zip(models, texts, strict=True)]
    windows: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray, int]] = {}
    jobs: dict[tuple[int, tuple[str, ...]], int] = {}
    firsts: list[int] = []
    job_of = []
    for i, (model, data) in enumerate(zip(models, texts, strict=True)):
        key = tuple(data)
        if key not in windows:
            windows[key] = (*model._windows(data), len(data))
        job = jobs.setdefault((id(model._tables), key), len(firsts))
        if job == len(firsts):
            firsts.append(i)
        job_of.append(job)
    scored = []
    for start in range(0, len(firsts), CHUNK_AGENTS):
        chunk = firsts[start : start + CHUNK_AGENTS]
        tokens = [windows[tuple(texts[i])] for i in chunk]
        scored.extend(_score_chunk([models[i] for i in chunk], tokens))
    return [scored[job] for job in job_of]


def _score_chunk(
    models: list[NGramLM], tokens: list[tuple[np.ndarray, np.ndarray, int]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Score each model's texts, given as ``(windows, text_index, n_texts)``."""
    first = models[0]
    v, n = first.vocab_size, first.order
    sizes = np.array([size for _, _, size in tokens], dtype=np.int64)
    bounds = _exclusive_cumsum(sizes)
    windows = np.concatenate([w for w, _, _ in tokens]).astype(np.int64)
    starts = bounds[:-1]
    text_index = np.concatenate([i + b for (_, i, _), b in zip(tokens, starts, strict=True)])
    agent = np.repeat(np.arange(len(models)), [len(w) for w, _, _ in tokens])
    distinct, table_of = distinct_tables(models)
    pop = PopulationTables.build(distinct)
    prob = score_probs(windows, table_of[agent], n, v, pop.flat(), pop.unigram, pop.rank)
    total = int(bounds[-1])
    loglik = np.bincount(text_index, weights=np.log(prob), minlength=total)
    ntokens = np.bincount(text_index, minlength=total).astype(np.int64)
    return [
        (loglik[bounds[a] : bounds[a + 1]], ntokens[bounds[a] : bounds[a + 1]])
        for a in range(len(models))
    ]
