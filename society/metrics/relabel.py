"""Null-corrected divergences: how far apart two agents are beyond what chance alone gives.

Two agents that speak one language still have a Jensen-Shannon divergence well above 0,
because each said a finite sample of it: identical round-0 agents have bigram JSD 0.7 or
more, and the floor moves with how much each said and how rich the language is. The
*excess* of a pair is its observed divergence minus the mean divergence under random
relabelling of the two agents' utterances: their texts are pooled and dealt back at
random in the same numbers (``m_i`` to one side, ``m_j`` to the other), and the JSD of
the two new piles is computed; ``draws`` such deals per pair. Agents that speak one
language give an excess of about 0 (the observed deal is just one more random deal);
agents with different languages give the part of their divergence no deal reproduces.

Vectorised: each text's n-gram counts are one row of a sparse matrix; a deal is a sparse
0/1 selection matrix, so one sparse product gives the piles of many pairs and draws at
once, and the JSD of all of them comes from ``divergence.jsd_matrix``. The cost is
proportional to ``pairs x draws x tokens per agent``; ``draws_within`` caps the deals per
round (``budget``): beyond it a sample of pairs is relabelled and the others get an
additive per-agent fit (``null_means``), so a large society spends at most ``budget``
deals a round.

Pure functions over tokenised documents and a ``numpy.random.Generator``; they know
nothing of agents or Mesa.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import sparse

from society.metrics.divergence import AgentTokens, Doc, _count, jsd_matrix, ngram_count_matrices

Texts = Sequence[Doc] | AgentTokens
"""Agents' texts: their documents, or their word ids (``AgentTokens``, counted the same)."""

#: Token occurrences gathered per chunk of deals (bounds the memory of one sparse product).
CHUNK_TOKENS = 4_000_000


def draws_within(pairs: int, draws: int, budget: int) -> int:
    """Deals per pair so that ``pairs x deals`` stays within ``budget`` (at least 1).

    Args:
        pairs: number of pairs relabelled.
        draws: deals wanted per pair.
        budget: most deals in all (0: no cap).

    Returns:
        ``draws`` when it fits, else ``max(1, budget // pairs)``; 0 when ``draws`` is 0.
    """
    if draws <= 0:
        return 0
    if budget <= 0 or pairs * draws <= budget:
        return draws
    return max(1, budget // max(pairs, 1))


def _text_counts(docs: Texts, orders: Sequence[int]) -> list[sparse.csr_matrix]:
    """One row per text (all agents' texts in order), one matrix per n-gram order."""
    if isinstance(docs, AgentTokens):
        tokens = docs.per_text()
        return [_count(tokens, n)[0].tocsr() for n in orders]
    per_text = [[text] for doc in docs for text in doc]
    return [m.tocsr() for m in ngram_count_matrices(per_text, orders)]


def texts_of(docs: Texts, agents: np.ndarray) -> Texts:
    """The texts of ``agents`` (ascending positions), in their order."""
    if isinstance(docs, AgentTokens):
        return docs.select(agents)
    return [docs[a] for a in agents]


def _sizes(docs: Texts) -> np.ndarray:
    """Texts per agent."""
    if isinstance(docs, AgentTokens):
        return docs.sizes
    return np.array([len(doc) for doc in docs], dtype=np.int64)


def _deals(
    sizes_i: np.ndarray, sizes_j: np.ndarray, draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random deals of each pair's pooled texts: which pooled positions go to side i.

    Pooled position ``p < m_i`` is agent i's text ``p``, else agent j's text ``p - m_i``.

    Returns:
        ``(row, position)``: for every deal ``r = pair * draws + d``, the ``m_i`` pooled
        positions dealt to side i (rows in ascending order).
    """
    rows, positions = [], []
    # pairs with the same (m_i, m_j) are dealt together: one argpartition per size class
    classes = np.unique(np.column_stack([sizes_i, sizes_j]), axis=0)
    for m_i, m_j in classes:
        members = np.flatnonzero((sizes_i == m_i) & (sizes_j == m_j))
        keys = rng.random((len(members), draws, m_i + m_j))
        chosen = np.argpartition(keys, m_i - 1, axis=-1)[..., :m_i] if m_i else keys[..., :0]
        deal = members[:, None] * draws + np.arange(draws)[None, :]
        rows.append(np.repeat(deal.ravel(), m_i))
        positions.append(chosen.reshape(-1))
    return np.concatenate(rows), np.concatenate(positions).astype(np.int64)


def relabelled_jsd(
    docs: Texts,
    pairs: np.ndarray,
    orders: Sequence[int],
    draws: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Mean n-gram JSD of each pair under random relabelling of its two agents' texts.

    Args:
        docs: each agent's tokenised texts (or their word ids, ``AgentTokens``).
        pairs: ``(k, 2)`` positions into ``docs``.
        orders: n-gram orders (1: words, 2: bigrams).
        draws: deals per pair (>= 1).
        rng: the measure's own generator (the deals are drawn from it, in pair order).

    Returns:
        Per order, a length-``k`` vector: the mean JSD over the deals where both piles
        have an n-gram of that order (NaN where none has, e.g. an agent said nothing).

    Raises:
        ValueError: if ``draws < 1``.
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    out = [np.full(len(pairs), np.nan) for _ in orders]
    if not len(pairs):
        return out
    speakers = np.unique(pairs)
    if len(speakers) < len(docs):  # count only the texts of agents in a pair (a sample)
        docs, pairs = texts_of(docs, speakers), np.searchsorted(speakers, pairs)
    sizes = _sizes(docs)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    texts = _text_counts(docs, orders)
    agent_totals = [_owner_matrix(sizes) @ t for t in texts]
    tokens = np.asarray(sum(t.sum(axis=1) for t in texts)).ravel()
    per_agent = np.bincount(np.repeat(np.arange(len(sizes)), sizes), tokens, len(sizes))
    cost = np.cumsum((per_agent[pairs[:, 0]] + per_agent[pairs[:, 1]] + 1) * draws)
    start = 0
    while start < len(pairs):
        stop = int(np.searchsorted(cost, (cost[start - 1] if start else 0) + CHUNK_TOKENS))
        stop = max(stop, start + 1)
        chunk = pairs[start:stop]
        i, j = chunk[:, 0], chunk[:, 1]
        row, position = _deals(sizes[i], sizes[j], draws, rng)
        pair = row // draws
        text = np.where(
            position < sizes[i][pair],
            offsets[i][pair] + position,
            offsets[j][pair] + position - sizes[i][pair],
        )
        select = sparse.csr_matrix(
            (np.ones(len(row)), (row, text)), shape=(len(chunk) * draws, offsets[-1])
        )
        for k, (counts, totals) in enumerate(zip(texts, agent_totals, strict=True)):
            side_i = select @ counts
            pooled = (totals[i] + totals[j])[np.repeat(np.arange(len(chunk)), draws)]
            side_j = pooled - side_i
            n = side_i.shape[0]
            values = jsd_matrix(
                sparse.vstack([side_i, side_j]).tocsr(),
                np.column_stack([np.arange(n), n + np.arange(n)]),
            ).reshape(len(chunk), draws)
            with warnings.catch_warnings():  # a pair with no n-gram in any deal: NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                out[k][start:stop] = np.nanmean(values, axis=1)
        start = stop
    return out


class NullPlan(NamedTuple):
    """What :func:`null_means` relabels (``call``) and how it completes the null (``fit``).

    ``call`` is ``relabelled_jsd``'s arguments over the relabelled pairs' agents only.
    """

    pairs: np.ndarray
    """Every pair ``(k, 2)``."""
    agents: int
    """Agents in ``docs``."""
    chosen: np.ndarray | None
    """The pairs relabelled when beyond the budget (None: every pair)."""
    call: tuple[Texts, np.ndarray, tuple[int, ...], int, np.random.Generator] | None
    """``relabelled_jsd``'s arguments (None: nothing to relabel, every mean NaN)."""
    orders: tuple[int, ...]

    def fit(self, measured: list[np.ndarray] | None) -> list[np.ndarray]:
        """Per order, each pair's null mean from ``relabelled_jsd(*call)``'s values."""
        if self.call is None or measured is None:
            return [np.full(len(self.pairs), np.nan) for _ in self.orders]
        if self.chosen is None:
            return measured
        from scipy.sparse.linalg import lsqr

        pairs, chosen, n = self.pairs, self.chosen, self.agents
        covered = np.zeros(n, dtype=bool)
        out = []
        for values in measured:
            ok = np.isfinite(values)
            rows, sample = np.flatnonzero(ok), pairs[chosen][ok]
            covered[:] = False
            covered[sample.ravel()] = True
            design = sparse.csr_matrix(
                (np.ones(2 * len(rows)), (np.repeat(np.arange(len(rows)), 2), sample.ravel())),
                shape=(len(rows), n),
            )
            floor = lsqr(design, values[ok])[0] if len(rows) else np.zeros(n)
            fitted = floor[pairs[:, 0]] + floor[pairs[:, 1]]
            mean = float(values[ok].mean()) if len(rows) else np.nan
            fitted[~(covered[pairs[:, 0]] & covered[pairs[:, 1]])] = mean
            fitted[chosen] = values
            out.append(fitted)
        return out


def null_plan(
    docs: Texts,
    pairs: np.ndarray,
    orders: Sequence[int],
    draws: int,
    budget: int,
    rng: np.random.Generator,
) -> NullPlan:
    """:func:`null_means` up to its relabelling: the pairs chosen (from ``rng``) and the call.

    The call holds the texts of the agents in the relabelled pairs only, numbered in order
    (what ``relabelled_jsd`` counts itself), so that it can be computed elsewhere.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    orders = tuple(orders)
    if draws <= 0 or not len(pairs):
        return NullPlan(pairs, len(docs), None, None, orders)
    if budget <= 0 or len(pairs) <= budget:
        chosen, relabelled, deals = None, pairs, draws_within(len(pairs), draws, budget)
    else:
        chosen = np.sort(rng.choice(len(pairs), budget, replace=False))
        relabelled, deals = pairs[chosen], 1
    speakers = np.unique(relabelled)
    call = (texts_of(docs, speakers), np.searchsorted(speakers, relabelled), orders, deals, rng)
    return NullPlan(pairs, len(docs), chosen, call, orders)


def null_means(
    docs: Texts,
    pairs: np.ndarray,
    orders: Sequence[int],
    draws: int,
    budget: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """``relabelled_jsd`` of every pair, at most ``budget`` deals in all.

    Up to ``budget`` pairs every pair is relabelled (``draws_within`` deals each). Beyond,
    a seeded sample of ``budget`` pairs is relabelled once each and every other pair gets
    the additive fit ``f_i + f_j`` of the sample (least squares over agents: an agent's
    floor comes mostly from how much it said and how varied its words are); a pair whose
    agent is in no sampled pair gets the sample's mean.

    Args:
        docs: each agent's tokenised texts (or their word ids, ``AgentTokens``).
        pairs: ``(k, 2)`` positions into ``docs``.
        orders: n-gram orders.
        draws: deals wanted per pair (0: all NaN).
        budget: most deals a round (0: no cap).
        rng: the measure's own generator.

    Returns:
        Per order, the null mean of each pair.
    """
    plan = null_plan(docs, pairs, orders, draws, budget, rng)
    return plan.fit(relabelled_jsd(*plan.call) if plan.call is not None else None)


def _owner_matrix(sizes: np.ndarray) -> sparse.csr_matrix:
    """``(agents, texts)`` 0/1 matrix: which agent said each text."""
    owner = np.repeat(np.arange(len(sizes)), sizes)
    return sparse.csr_matrix(
        (np.ones(len(owner)), (owner, np.arange(len(owner)))), shape=(len(sizes), len(owner))
    )
