"""Whether a new word spread through the network or was invented twice.

A neologism used in several communities either travelled along edges from where it was
first said, or was coined independently where no path leads from its origin (two
isolated islands hitting on the same non-word). ``classify_innovations`` tells them
apart: for each tracked word it takes the agents using it at its peak round (from
``samples.jsonl``), the graph as it stood at the round the word first appeared, and
splits the user communities into those reachable from the origin node and those not.
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pandas as pd

from analysis.runs import Run
from analysis.style import WORD
from society.run import layout

COLUMNS = (
    "word",
    "first_round",
    "peak_round",
    "agents",
    "origin_community",
    "reached",
    "independent",
)


def _graph(path: Path) -> nx.Graph | None:
    if not path.exists():
        return None
    return nx.node_link_graph(json.loads(path.read_text()), edges="edges")


def graph_at(run: Run, round_: int) -> nx.Graph | None:
    """The network as measured at ``round_``.

    Events apply at the start of their round, so a round before every event sees
    ``network_initial.json`` and a round at or after every event sees ``network.json``;
    between two events (not stored) the final graph is used.
    """
    rounds = [int(e.get("round", 0)) for e in run.events if isinstance(e, dict)]
    if rounds and round_ < min(rounds):
        initial = _graph(Path(run.path) / layout.NETWORK_INITIAL)
        if initial is not None:
            return initial
    return _graph(Path(run.path) / layout.NETWORK)


def _users(samples: pd.DataFrame, words: set[str]) -> dict[tuple[int, str], set[int]]:
    """``(round, word) -> agents`` that said the word, for the words asked."""
    out: dict[tuple[int, str], set[int]] = {}
    for round_, agent, text in zip(
        samples["round"], samples["agent"], samples["text"], strict=True
    ):
        for token in set(WORD.findall(str(text).lower())) & words:
            out.setdefault((int(round_), token), set()).add(int(agent))
    return out


def classify_innovations(run: Run, samples: pd.DataFrame | None = None) -> pd.DataFrame:
    """Origin community and spread of every tracked neologism.

    Args:
        run: the run (its ``innovations`` and ``agents`` tables, graphs and samples).
        samples: utterances of the peak rounds (read from the run when ``None``).

    Returns:
        One row per word: ``word``, ``first_round``, ``peak_round`` (most agents),
        ``agents`` (then), ``origin_community``, ``reached`` (sorted communities using it
        that a path connects to the origin at the first round) and ``independent``
        (communities using it with no such path: invented there independently). Empty
        without innovations; ``reached``/``independent`` are empty lists when no samples
        were logged.
    """
    table, agents = run.innovations, run.agents
    if table.empty or agents.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    peak = table.sort_values(["agents", "uses", "round"], ascending=[False, False, True])
    peak = peak.drop_duplicates("word")
    if samples is None:
        samples = run.samples(sorted(peak["round"].unique()))
    users = _users(samples, set(peak["word"])) if not samples.empty else {}
    where = agents.set_index(["round", "agent"])[["node", "community"]]
    community_of_node = agents.drop_duplicates("node", keep="first").set_index("node")
    graphs: dict[int, nx.Graph | None] = {}
    rows = []
    for row in peak.itertuples(index=False):
        first, origin = int(row.first_round), int(row.first_node)
        if first not in graphs:
            graphs[first] = graph_at(run, first)
        graph = graphs[first]
        reachable = (
            nx.node_connected_component(graph, origin)
            if graph is not None and origin in graph
            else set()
        )
        origin_community = community_of_node["community"].get(origin, -1)
        reached: set[int] = set()
        independent: set[int] = set()
        for agent in users.get((int(row.round), row.word), set()):
            if (int(row.round), agent) not in where.index:
                continue
            node, community = where.loc[(int(row.round), agent)]
            (reached if int(node) in reachable else independent).add(int(community))
        rows.append(
            {
                "word": row.word,
                "first_round": first,
                "peak_round": int(row.round),
                "agents": int(row.agents),
                "origin_community": int(origin_community),
                "reached": sorted(reached),
                "independent": sorted(independent - reached),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))
