"""Novelty and creative variation: new n-grams, new words, and how new words spread.

- ``real_ngrams``: every n-gram of the real corpus (training and held-out text).
- ``novel_share``: the share of a sample's n-grams never seen in the real corpus.
- ``neologisms``: word types absent from the real corpus, with their counts.
- ``InnovationTracker``: remembers where each neologism first appeared (round, agent,
  node) and, every measured round, how many agents and communities use it, how often, and
  how far (in graph hops) from its first speaker; ``table()`` is the tidy
  ``metrics/innovations.parquet``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse

from society.metrics.reach import farthest_hops

TokenLists = Sequence[Sequence[str]]

INNOVATION_COLUMNS = (
    "round",
    "word",
    "uses",
    "agents",
    "communities",
    "reach",
    "first_round",
    "first_agent",
    "first_node",
)


def ngrams(token_lists: TokenLists, n: int) -> Iterable[tuple[str, ...]]:
    """Every n-gram of every text (never across a text boundary)."""
    for tokens in token_lists:
        yield from zip(*(tokens[i:] for i in range(n)), strict=False)


def real_ngrams(token_lists: TokenLists, n: int) -> frozenset[tuple[str, ...]]:
    """The set of n-grams occurring in the real corpus."""
    return frozenset(ngrams(token_lists, n))


def novel_share(token_lists: TokenLists, seen: frozenset[tuple[str, ...]], n: int) -> float:
    """Share of a sample's n-gram tokens that never occur in the real corpus.

    Args:
        token_lists: the tokenised sample.
        seen: the real corpus's n-grams (``real_ngrams`` of the same order).
        n: n-gram order.

    Returns:
        A share in [0, 1]; NaN when the sample has no n-gram.
    """
    return novel_fraction(list(ngrams(token_lists, n)), seen)


def novel_fraction(grams: Sequence[tuple[str, ...]], seen: frozenset[tuple[str, ...]]) -> float:
    """Share of ``grams`` (already extracted n-grams) absent from ``seen``; NaN if none."""
    if not grams:
        return float("nan")
    return sum(1 for gram in grams if gram not in seen) / len(grams)


def neologisms(counts: Mapping[str, int], vocabulary: frozenset[str]) -> Counter[str]:
    """The word types of a sample that are absent from the real vocabulary, with counts."""
    return Counter({w: c for w, c in counts.items() if w not in vocabulary})


Origin = tuple[int, int, int]
"""Where a neologism was first said: ``(round, agent, node)``.

A plain tuple: a run remembers every neologism's origin (about 1.5 million at 10,000
agents; a round of 1,000 n-gram agents coins 100,000), and a tuple is made ten times
faster than a frozen dataclass, at the same size."""

NODE = 2
"""Where an ``Origin`` holds its node."""


class InnovationTracker:
    """First appearances and the spread of neologisms over rounds and over the graph.

    Args:
        min_agents: a word's row is kept for a round only if at least this many agents
            used it then (1 keeps every neologism; 2 keeps those that spread), or if the
            word was already kept before (so adoption curves have no gaps).
    """

    def __init__(self, min_agents: int = 2) -> None:
        self.min_agents = min_agents
        self.origins: dict[str, Origin] = {}
        self.tracked: set[str] = set()
        self.rows: list[tuple] = []

    def update(
        self,
        round_: int,
        usage: Sequence[tuple[int, int, int, Counter[str]]],
        graph: nx.Graph | None = None,
    ) -> dict[str, int]:
        """Record one measured round.

        Args:
            round_: the round.
            usage: per agent ``(agent id, node, community, neologism counts)``, in a fixed
                agent order (ties for "first speaker" go to the earlier agent).
            graph: the network, for ``reach`` (hops from the first speaker's node to the
                farthest user this round; -1 if unreachable; NaN without a graph).

        Returns:
            ``neologisms_new`` (types first said this round), ``neologisms_alive`` (types
            used this round) and ``neologisms_shared`` (types used by >= 2 agents).
        """
        users: dict[str, list[tuple[int, int, int, int]]] = {}
        for agent, node, community, counts in usage:
            for word, c in counts.items():
                users.setdefault(word, []).append((agent, node, community, c))
        new = 0
        for word, who in users.items():
            if word not in self.origins:
                self.origins[word] = (round_, who[0][0], who[0][1])
                new += 1
        hops: dict[int, dict[int, int]] = {}
        for word in sorted(users):
            who = users[word]
            if len(who) < self.min_agents and word not in self.tracked:
                continue
            self.tracked.add(word)
            origin = self.origins[word]
            reach = float("nan")
            if graph is not None and origin[NODE] in graph:
                if origin[NODE] not in hops:
                    hops[origin[NODE]] = nx.single_source_shortest_path_length(graph, origin[NODE])
                lengths = hops[origin[NODE]]
                reach = max(lengths.get(node, -1) for _, node, _, _ in who)
                reach = -1 if any(node not in lengths for _, node, _, _ in who) else reach
            self.rows.append(
                (
                    round_,
                    word,
                    sum(c for *_, c in who),
                    len(who),
                    len({community for _, _, community, _ in who}),
                    reach,
                    *origin,
                )
            )
        return {
            "neologisms_new": new,
            "neologisms_alive": len(users),
            "neologisms_shared": sum(len(w) >= 2 for w in users.values()),
        }

    def update_counts(
        self,
        round_: int,
        agents: tuple[Sequence[int], Sequence[int], Sequence[int]],
        counts: sparse.spmatrix,
        words: np.ndarray,
        graph: nx.Graph | None = None,
    ) -> dict[str, int]:
        """``update`` from a population's neologism count matrix (same rows, same result).

        Vectorised: Python touches each neologism type once (its origin), never a token.

        Args:
            round_: the round.
            agents: the agents' ids, nodes and communities, in the fixed agent order.
            counts: ``(agents, words)`` counts of each agent's neologisms.
            words: the word of each column (each word once).
            graph: the network, for ``reach`` (see ``update``).

        Returns:
            The same counts as ``update``.
        """
        ids, nodes, communities = (np.asarray(x, dtype=np.int64) for x in agents)
        by_word = sparse.csc_matrix(counts)
        by_word.sort_indices()
        users = np.diff(by_word.indptr)
        used = np.flatnonzero(users)
        # the first user of each word is its earliest agent (rows sorted in each column)
        first = by_word.indices[by_word.indptr[used]]
        origins, before = self.origins, len(self.origins)
        firsts = zip(ids[first].tolist(), nodes[first].tolist(), strict=True)
        for word, (agent, node) in zip(words[used].tolist(), firsts, strict=True):
            if word not in origins:
                origins[word] = (round_, agent, node)
        new = len(origins) - before
        keep = used[
            np.fromiter(
                (
                    u >= self.min_agents or w in self.tracked
                    for u, w in zip(users[used].tolist(), words[used].tolist(), strict=True)
                ),
                dtype=bool,
                count=len(used),
            )
        ]
        keep = keep[np.argsort(words[keep].astype(str), kind="stable")]  # as sorted(words)
        kept_words = words[keep].tolist()
        self.tracked.update(kept_words)
        column = np.repeat(np.arange(by_word.shape[1]), users)
        rows, uses = by_word.indices, by_word.data
        total = np.bincount(column, uses, by_word.shape[1])
        _, community_code = np.unique(communities, return_inverse=True)
        pairs = np.unique(column * (community_code.max(initial=0) + 1) + community_code[rows])
        spread = np.bincount(
            pairs // (community_code.max(initial=0) + 1), minlength=by_word.shape[1]
        )
        origins = [self.origins[w] for w in kept_words]
        reach = self._reach(graph, origins, keep, by_word, nodes)
        for k, (word, origin) in enumerate(zip(kept_words, origins, strict=True)):
            c = keep[k]
            self.rows.append(
                (
                    round_,
                    word,
                    int(total[c]),
                    int(users[c]),
                    int(spread[c]),
                    reach[k],
                    *origin,
                )
            )
        return {
            "neologisms_new": new,
            "neologisms_alive": len(used),
            "neologisms_shared": int((users >= 2).sum()),
        }

    @staticmethod
    def _reach(
        graph: nx.Graph | None,
        origins: Sequence[Origin],
        columns: np.ndarray,
        by_word: sparse.csc_matrix,
        nodes: np.ndarray,
    ) -> list[float]:
        """Per kept word: hops from its origin's node to its farthest user (see ``update``).

        One breadth-first search per distinct origin node that stops once all users of its
        words are found (``reach.farthest_hops``), not a search of the whole graph.
        """
        if graph is None or not len(origins):
            return [float("nan")] * len(origins)
        everyone = list(graph.nodes)
        position = {node: i for i, node in enumerate(everyone)}
        adjacency = sparse.csr_array(
            nx.to_scipy_sparse_array(graph, nodelist=everyone, weight=None)
        )
        if graph.is_directed():
            adjacency = sparse.csr_array(adjacency + adjacency.T)
        user_at = np.array([position.get(node, -1) for node in nodes.tolist()], dtype=np.int64)
        source = np.array([position.get(o[NODE], -1) for o in origins], dtype=np.int64)
        starts, stops = by_word.indptr[columns], by_word.indptr[columns + 1]
        sizes = stops - starts
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        entry = np.arange(offsets[-1]) - np.repeat(offsets[:-1] - starts, sizes)
        users = user_at[by_word.indices[entry]]
        indptr = adjacency.indptr.astype(np.int64)
        indices = adjacency.indices.astype(np.int64)
        return farthest_hops(indptr, indices, source, offsets.astype(np.int64), users).tolist()

    def table(self) -> pd.DataFrame:
        """One row per (round, word) kept: uses, agents, communities, reach, origin."""
        frame = pd.DataFrame(self.rows, columns=list(INNOVATION_COLUMNS))
        return frame.astype({"reach": float})
