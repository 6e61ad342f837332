"""How long one round's measurements take (for ``society bench``).

``time_measurements(n)`` builds an n-gram society of ``n`` agents (a small-world graph,
default speech), lets it speak once, and times ``Society.measure`` split into its parts:
the basic agent metrics (held-out perplexity, text metrics), the suite's per-agent
measures, the pair table, and the round measures (dialect clustering with its null,
Mantel test, expressions, innovations), on an ordinary round and on an "expensive" round
(self-BLEU, classifier).
"""

from __future__ import annotations

import time
from typing import Any

from society.metrics.collect import agent_metrics, pair_metrics, round_metrics
from society.metrics.text import tokenize_all


def _clock(step: Any) -> tuple[float, Any]:
    """CPU seconds of this process (all threads) spent in ``step``, and its result.

    CPU time rather than wall time, so that other work on a shared machine does not
    inflate the numbers.
    """
    start = time.process_time()
    out = step()
    return time.process_time() - start, out


def time_measurements(agents: int, utterances: int = 150, seed: int = 0) -> dict[str, float]:
    """CPU seconds spent measuring one round of an ``agents``-agent n-gram society.

    Args:
        agents: number of agents (small-world graph, 4 neighbours each).
        utterances: texts each agent says per round.
        seed: scenario seed.

    Returns:
        ``agents``, then seconds for ``basic``, ``suite_agents``, ``pairs``, ``round``
        (dialects, Mantel, expressions, innovations), ``total`` on an ordinary round, and
        ``suite_agents_expensive`` / ``total_expensive`` when self-BLEU and the classifier
        also run.
    """
    from society.sim.model import Society

    society = Society(
        seed=seed,
        rounds=10,
        network_kind="small_world",
        network_agents=agents,
        speech_utterances=utterances,
    )
    speakers = list(society.agents)
    measures = society.measures
    out: dict[str, float] = {"agents": float(agents)}
    docs = [tokenize_all(a.utterances) for a in speakers]
    out["basic"], _ = _clock(
        lambda: [setattr(a, "metrics", agent_metrics(a, society.heldout)) for a in speakers]
    )
    for label, round_ in (("", 1), ("_expensive", 5)):
        seconds, _ = _clock(
            lambda round_=round_: measures.measure_agents(speakers, docs, round_, 10)
        )
        out[f"suite_agents{label}"] = seconds
    mode = society.scenario.metrics.pairs
    out["pairs"], pairs = _clock(lambda: pair_metrics(speakers, society.graph, mode))
    out["round"], _ = _clock(
        lambda: (
            round_metrics(1, speakers, pairs),
            measures.round(1, speakers, docs, pairs, society.graph),
        )
    )
    shared = out["basic"] + out["pairs"] + out["round"]
    out["total"] = shared + out["suite_agents"]
    out["total_expensive"] = shared + out["suite_agents_expensive"]
    return out
