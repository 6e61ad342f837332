"""Selection: whom agents listen to preferentially, on top of edge weights.

Each round, before anyone listens, every speaker gets a score; a listener draws a
neighbour's text with probability proportional to ``edge weight * score ** strength``
(``[selection] by``, ``strength``):

- ``prestige``: the node attribute ``prestige`` when the graph file gives one; otherwise
  success: 1 + how many of the speaker's texts listeners kept in the previous round
  (attention follows attention, a rich-get-richer bias);
- ``degree``: the speaker's number of neighbours (the well-connected are heard more);
- ``critic``: how plausible the speaker's last utterances are to the critic, ``1 /
  perplexity`` (``curation.critic = "real"``, else the ancestor: ``Society.critic``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

import networkx as nx
import numpy as np

from society.config import SelectionConfig
from society.lm.base import LanguageModel


class Voice(Protocol):
    """What selection reads of a speaker (a ``Speaker`` is one)."""

    unique_id: int
    node: int
    utterances: list[str]
    kept_from: list[int]  # whose texts this agent kept last round, as a listener


def prestige_scores(speakers: Sequence[Voice], graph: nx.Graph) -> np.ndarray:
    """Static node ``prestige`` if the graph has it, else 1 + texts kept by listeners.

    ``speakers`` are also the listeners: their ``kept_from`` says whose texts they kept.
    """
    if any("prestige" in graph.nodes[a.node] for a in speakers):
        return np.array([float(graph.nodes[a.node].get("prestige", 1.0)) for a in speakers])
    kept = Counter(s for agent in speakers for s in agent.kept_from)
    return np.array([1.0 + kept[a.unique_id] for a in speakers])


def degree_scores(speakers: Sequence[Voice], graph: nx.Graph) -> np.ndarray:
    """Each speaker's number of neighbours."""
    return np.array([float(graph.degree(a.node)) for a in speakers])


def critic_scores(speakers: Sequence[Voice], critic: LanguageModel) -> np.ndarray:
    """``1 / perplexity`` of each speaker's current utterances under ``critic``."""
    out = []
    for agent in speakers:
        if not agent.utterances:
            out.append(0.0)
            continue
        loglik, tokens = critic.score(agent.utterances)
        out.append(float(np.exp(np.sum(loglik) / max(float(np.sum(tokens)), 1.0))))
    return np.array(out)


def attention(
    speakers: Sequence[Voice],
    graph: nx.Graph,
    config: SelectionConfig,
    critic: Callable[[], LanguageModel],
) -> dict[int, float]:
    """Every speaker's listening multiplier for this round (empty: no selection).

    Scores are divided by their maximum before the exponent, so ``strength`` alone sets
    how sharply the best are preferred (0: no preference).

    Args:
        speakers: every agent of the society (speakers and listeners alike).
        graph: the society's network.
        config: the scenario's ``[selection]`` table.
        critic: returns the critic (called only when selecting by critic).

    Returns:
        ``{agent id: score ** strength}``.
    """
    if config.by == "none" or config.strength == 0:
        return {}
    if config.by == "critic":
        scores = critic_scores(speakers, critic())
    elif config.by == "degree":
        scores = degree_scores(speakers, graph)
    else:
        scores = prestige_scores(speakers, graph)
    top = float(np.max(scores)) if len(scores) else 0.0
    if top <= 0:
        return {}
    factors = (scores / top) ** config.strength
    return {a.unique_id: float(f) for a, f in zip(speakers, factors, strict=True)}
