"""The frozen record of one measured round: everything the measures may look at.

The society builds one ``RoundRecord`` per measured round (``Society.round_record``);
every registered measure reads it and nothing else of the society, so a measure can be
called on a hand-built record in a test. Nothing here knows about Mesa or agents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import networkx as nx
import numpy as np

from society.metrics.counts import PopulationCounts
from society.metrics.divergence import canonical_pairs
from society.metrics.relabel import Texts, texts_of
from society.metrics.text import tokenize_tuples

AUTO_ALL_PAIRS = 200
"""With ``metrics.pairs = "auto"``, every pair is measured up to this many agents."""

PAIR_PURPOSE = 7
"""Seeds the sample of pairs above ``metrics.exact_agents``: ``(seed, round, PAIR_PURPOSE)``."""

Doc = tuple[tuple[str, ...], ...]


class Scorer(Protocol):
    """The one thing measures may ask of a model (``LanguageModel.score``)."""

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per-text total log-likelihood (nats) and per-text scored token counts."""


@dataclass(frozen=True)
class AgentRecord:
    """One agent as the measures see it in one round.

    Attributes:
        id: the agent's unique id.
        node: the graph node it sits on.
        community: its community label.
        texts: what it said this round.
        docs: ``texts`` tokenised (``text.tokenize_tuples``), one word tuple per text.
        heard: how many texts it heard this round.
        kept: how many of them it kept.
        model: its language model, to be used only through ``score``.
        model_label: a short name of its model's kind (``config.model_label``).
    """

    id: int
    node: int
    community: int
    texts: tuple[str, ...]
    docs: Doc
    heard: int
    kept: int
    model: Scorer
    model_label: str = ""

    @classmethod
    def of(
        cls,
        id: int,  # noqa: A002 - the record's field name
        node: int,
        community: int,
        texts: Sequence[str],
        heard: int,
        kept: int,
        model: Scorer,
        model_label: str = "",
    ) -> AgentRecord:
        """Freeze one agent's round, tokenising its texts once.

        Args:
            id: the agent's unique id.
            node: its node.
            community: its community.
            texts: what it said this round.
            heard: texts heard this round.
            kept: texts kept this round.
            model: its language model.
            model_label: a short name of its model's kind.

        Returns:
            The record.
        """
        texts = tuple(texts)
        docs = tokenize_tuples(texts)
        return cls(id, node, community, texts, docs, heard, kept, model, model_label)


@dataclass(frozen=True)
class RoundRecord:
    """One measured round: the agents, which pairs to compare, and the graph.

    Attributes:
        round: the round measured.
        last: the run's last round (expensive measures also run on it).
        agents: the agents, in the society's order (the tables' row order).
        pairs: ``(k, 2)`` positions into ``agents`` of the pairs to compare, each row
            ``i < j``, rows sorted (read-only array); None when no pair is compared.
        graph: a read-only view of the network.
    """

    round: int
    last: int
    agents: tuple[AgentRecord, ...]
    pairs: np.ndarray | None
    graph: nx.Graph

    @classmethod
    def of(
        cls,
        round_: int,
        last: int,
        agents: Sequence[AgentRecord],
        graph: nx.Graph,
        pairs: str = "auto",
        exact_agents: int | None = None,
        seed: int = 0,
    ) -> RoundRecord:
        """Freeze one round: choose the pairs, take a read-only view of the graph.

        Args:
            round_: the round.
            last: the run's last round.
            agents: the agent records, in the society's order.
            graph: the network (viewed, not copied).
            pairs: ``metrics.pairs``: ``"all"``, ``"edges"``, ``"auto"`` or ``"none"``.
            exact_agents: ``metrics.exact_agents``: with ``pairs = "all"`` and more agents,
                a seeded sample of pairs (``sample_pairs``); None: always every pair.
            seed: the scenario seed (seeds that sample with the round, never the
                society's generator).

        Returns:
            The record.
        """
        agents = tuple(agents)
        rng = np.random.default_rng([seed, round_, PAIR_PURPOSE])
        chosen = select_pairs(graph, [a.node for a in agents], pairs, exact_agents, rng)
        if chosen is not None:
            chosen.flags.writeable = False
        return cls(round_, last, agents, chosen, graph.copy(as_view=True))

    @property
    def ids(self) -> list[int]:
        """The agents' ids, in order."""
        return [a.id for a in self.agents]

    @property
    def communities(self) -> list[int]:
        """The agents' communities, in order."""
        return [a.community for a in self.agents]

    @property
    def docs(self) -> list[Doc]:
        """The agents' tokenised texts, in order."""
        return [a.docs for a in self.agents]

    @cached_property
    def counts(self) -> PopulationCounts:
        """Every agent's word and n-gram counts, built once and shared by the measures."""
        return PopulationCounts.of(self.docs)

    def null_texts(self, agents: np.ndarray | None = None) -> Texts:
        """What a relabelling null counts of ``agents`` (None: all, in order).

        Their word ids when the counts kept them (``PopulationCounts.flat``), else their
        documents: the same counts either way, the ids pickle in milliseconds.
        """
        flat = self.counts.flat
        texts = flat if flat is not None else self.docs
        return texts if agents is None else texts_of(texts, agents)


def select_pairs(
    graph: nx.Graph,
    nodes: Sequence[int],
    mode: str,
    exact_agents: int | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray | None:
    """Which agent pairs to compare: all of them (or a sample), the graph's edges, or none.

    Args:
        graph: the network.
        nodes: each agent's node, in agent order.
        mode: ``"all"``, ``"edges"``, ``"auto"`` (all up to ``AUTO_ALL_PAIRS`` agents, else
            edges) or ``"none"``.
        exact_agents: with ``"all"`` and more agents than this, a uniform sample (without
            replacement) of as many pairs as ``exact_agents`` agents have
            (``sample_pairs``), so the cost stays that of ``exact_agents`` agents; None:
            every pair.
        rng: draws that sample (required when it is drawn).

    Returns:
        Canonical ``(k, 2)`` positions into ``nodes`` (see
        ``divergence.canonical_pairs``), or None for ``"none"`` or fewer than two agents.
    """
    n = len(nodes)
    if mode == "none" or n < 2:
        return None
    if mode == "all" and exact_agents is not None and n > exact_agents:
        if rng is None:
            raise ValueError("sampling pairs needs a generator")
        return sample_pairs(n, exact_agents * (exact_agents - 1) // 2, rng)
    if mode == "all" or (mode == "auto" and n <= AUTO_ALL_PAIRS):
        return canonical_pairs("all", n)
    position = {node: i for i, node in enumerate(nodes)}
    edges = [sorted((position[u], position[v])) for u, v in graph.edges if u in position]
    return canonical_pairs(np.asarray(edges, dtype=np.int64).reshape(-1, 2), len(nodes))


def sample_pairs(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A uniform sample of ``k`` distinct unordered pairs of ``n`` agents, canonical order.

    Args:
        n: agents.
        k: pairs wanted (all of them if there are no more).
        rng: the generator.

    Returns:
        A ``(min(k, n(n-1)/2), 2)`` canonical pair array (``divergence.canonical_pairs``).
    """
    total = n * (n - 1) // 2
    index = np.sort(rng.choice(total, size=min(k, total), replace=False)).astype(np.int64)
    # row i of the upper triangle starts at i*n - i*(i+1)/2 (row-major, j > i)
    starts = np.arange(n, dtype=np.int64) * n - np.arange(n) * (np.arange(n) + 1) // 2
    i = np.searchsorted(starts, index, side="right") - 1
    j = index - starts[i] + i + 1
    return canonical_pairs(np.column_stack([i, j]), n)
