"""Selection: whom agents listen to preferentially, on top of edge weights.

Each round, before anyone listens, every speaker gets a score; a listener draws a
neighbour's text with probability proportional to ``edge weight * score ** strength``
(``[selection] by``, ``strength``):

- ``prestige``: the node attribute ``prestige`` when the graph file gives one; otherwise
  success: 1 + how many of the speaker's texts listeners kept in the previous round
  (attention follows attention, a rich-get-richer bias);
- ``degree``: the speaker's number of neighbours (the well-connected are heard more);
- ``critic``: how plausible the speaker's last utterances are to the critic, ``1 /
  perplexity`` (``curation.critic = "real"``, else the ancestor).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from society.sim.agents import Speaker
    from society.sim.model import Society


def prestige_scores(model: Society, speakers: list[Speaker]) -> np.ndarray:
    """Static node ``prestige`` if the graph has it, else 1 + texts kept by listeners."""
    graph = model.graph
    if any("prestige" in graph.nodes[a.node] for a in speakers):
        return np.array([float(graph.nodes[a.node].get("prestige", 1.0)) for a in speakers])
    kept = Counter(s for agent in model.agents for s in agent.kept_from)
    return np.array([1.0 + kept[a.unique_id] for a in speakers])


def degree_scores(model: Society, speakers: list[Speaker]) -> np.ndarray:
    """Each speaker's number of neighbours."""
    return np.array([float(model.graph.degree(a.node)) for a in speakers])


def critic_scores(model: Society, speakers: list[Speaker]) -> np.ndarray:
    """``1 / perplexity`` of each speaker's current utterances under the critic."""
    kind = model.scenario.curation.critic
    critic = model.curator.critic("real" if kind == "real" else "ancestor")
    out = []
    for agent in speakers:
        if not agent.utterances:
            out.append(0.0)
            continue
        loglik, tokens = critic.score(agent.utterances)
        out.append(float(np.exp(np.sum(loglik) / max(float(np.sum(tokens)), 1.0))))
    return np.array(out)


SCORES = {"prestige": prestige_scores, "degree": degree_scores, "critic": critic_scores}


def attention(model: Society) -> dict[int, float]:
    """Every speaker's listening multiplier for this round (empty: no selection).

    Scores are divided by their maximum before the exponent, so ``strength`` alone sets
    how sharply the best are preferred (0: no preference).

    Returns:
        ``{agent id: score ** strength}``.
    """
    config = model.scenario.selection
    if config.by == "none" or config.strength == 0:
        return {}
    speakers = list(model.agents)
    scores = SCORES[config.by](model, speakers)
    top = float(np.max(scores)) if len(scores) else 0.0
    if top <= 0:
        return {}
    factors = (scores / top) ** config.strength
    return {a.unique_id: float(f) for a, f in zip(speakers, factors, strict=True)}
