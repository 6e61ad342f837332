"""What the society measures each round: per agent, per pair, per round."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import pandas as pd

from society.lm.base import perplexity
from society.metrics.divergence import pair_table, within_between
from society.metrics.model_based import PAIR_COLUMN, QUANTILE_COLUMNS
from society.metrics.suite import AGENT_EXTRA, ROUND_EXTRA
from society.metrics.text import text_metrics, tokenize_all

if TYPE_CHECKING:
    from society.sim.agents import Speaker

TEXT_COLUMNS = (
    "distinct_1",
    "distinct_2",
    "distinct_3",
    "entropy",
    "vocab_size",
    "ttr",
    "hapax_ratio",
    "mean_length",
)
AGENT_COLUMNS = (
    "node",
    "community",
    "perplexity",
    *TEXT_COLUMNS,
    "kept",
    *AGENT_EXTRA,
    *QUANTILE_COLUMNS,
)
DIVERGENCES = ("jsd_unigram", "jsd_bigram", PAIR_COLUMN)
ROUND_COLUMNS = (
    "round",
    "agents",
    "perplexity",
    *TEXT_COLUMNS,
    *(f"{d}_{part}" for d in DIVERGENCES for part in ("within", "between", "index")),
    *ROUND_EXTRA,
)
AUTO_ALL_PAIRS = 200


def agent_metrics(agent: Speaker, heldout: Sequence[str]) -> dict[str, Any]:
    """Held-out perplexity of the agent's model and diversity of what it said this round."""
    loglik, tokens = agent.lm.score(heldout)
    return {
        "node": agent.node,
        "community": agent.community,
        "perplexity": perplexity(loglik, tokens),
        **text_metrics(agent.utterances),
        "kept": len(agent.kept),
    }


def pair_indices(graph: nx.Graph, nodes: list[int], mode: str) -> np.ndarray | str | None:
    """Which pairs to measure: ``"all"``, the graph's edges, or none."""
    if mode == "none":
        return None
    if mode == "all" or (mode == "auto" and len(nodes) <= AUTO_ALL_PAIRS):
        return "all"
    position = {node: i for i, node in enumerate(nodes)}
    edges = [sorted((position[u], position[v])) for u, v in graph.edges if u in position]
    return np.asarray(edges, dtype=np.int64).reshape(-1, 2)


def pair_metrics(speakers: list[Speaker], graph: nx.Graph, mode: str) -> pd.DataFrame | None:
    """Jensen-Shannon divergences between agents' unigram and bigram distributions."""
    pairs = pair_indices(graph, [a.node for a in speakers], mode)
    if pairs is None or len(speakers) < 2:
        return None
    docs = [tokenize_all(a.utterances) for a in speakers]
    return pair_table(
        [a.unique_id for a in speakers], [a.community for a in speakers], docs, pairs=pairs
    )


def round_metrics(
    round_: int, speakers: list[Speaker], pairs: pd.DataFrame | None
) -> dict[str, Any]:
    """Population means of the agent metrics, and divergence within/between communities."""
    out: dict[str, Any] = {"round": round_, "agents": len(speakers)}
    for name in ("perplexity", *TEXT_COLUMNS):
        values = [a.metrics[name] for a in speakers]
        out[name] = float(np.nanmean(values)) if values else float("nan")
    for column in DIVERGENCES:
        summary = (
            within_between(pairs, column)
            if pairs is not None and len(pairs) and column in pairs
            else {"within": np.nan, "between": np.nan, "index": np.nan}
        )
        for part in ("within", "between", "index"):
            out[f"{column}_{part}"] = float(summary[part])
    return out
