"""The society's graph from its ``[network]`` table, and the communities in a graph.

Edits to a living society's graph (cut, connect, migrate, ...) are events
(``society.sim.events``): they go through the Mesa space so cells and graph stay in step.

Every graph that leaves ``build_graph`` is an undirected simple ``nx.Graph`` on nodes
``0..n-1`` (ordered by sorted original label where the labels sort, else file order); each
node has ``label`` (original id, str) and ``community`` (int); each edge has ``weight`` (float).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from society.config import NetworkConfig

EDGE_LIST_SUFFIXES = (".edgelist", ".edges", ".txt", ".csv")
HEADER_NAMES = {"source", "target", "from", "to", "u", "v", "node1", "node2", "src", "dst"}


class GraphError(ValueError):
    """A graph that cannot be built; the message is one line naming the file and the problem."""


def _natural(item: Any) -> Any:
    """Sort key: strings compare with their digit runs as numbers (``n2`` < ``n10``)."""
    if not isinstance(item, str):
        return item
    return tuple(int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", item)))


def _order(items: list[Any]) -> list[Any]:
    """Sort naturally when the items are mutually comparable, else keep their order."""
    try:
        return sorted(items, key=_natural)
    except TypeError:
        return list(items)


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split()) or "no detail"
    return f"{type(error).__name__}: {text[:200]}"


def _weight(value: Any, default: float, where: str) -> float:
    """Read an edge weight; ``default`` when absent or not numeric."""
    try:
        weight = default if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        weight = default
    if not (math.isfinite(weight) and weight > 0):
        raise GraphError(f"{where}: edge weight {value!r} is not a positive number")
    return weight


def _finish(raw: nx.Graph, where: str, weight: float, blocks: dict[Any, int] | None) -> nx.Graph:
    """Relabel, attach communities and weights, drop self-loops, merge parallel edges."""
    if raw.number_of_nodes() < 2:
        count = raw.number_of_nodes()
        raise GraphError(
            f"{where}: graph has {count or 'no'} node{'s' * (count != 1)}, need at least 2"
        )
    order = _order(list(raw.nodes))
    index = {node: i for i, node in enumerate(order)}
    graph = nx.Graph()
    for node in order:
        graph.add_node(index[node], **{**raw.nodes[node], "label": str(node)})
    if blocks is None:
        has = [n for n in order if raw.nodes[n].get("community") is not None]
        if has and len(has) < len(order):
            missing = len(order) - len(has)
            raise GraphError(f"{where}: {missing} nodes have no 'community' attribute")
        values = [raw.nodes[n]["community"] for n in has]
        codes = {v: i for i, v in enumerate(_order(list(dict.fromkeys(values))))}
        for node in has:
            graph.nodes[index[node]]["community_label"] = str(raw.nodes[node]["community"])
        blocks = {n: codes[raw.nodes[n]["community"]] for n in has}
    for node in order:
        graph.nodes[index[node]]["community"] = int(blocks.get(node, 0))
    for u, v, data in raw.edges(data=True):
        if u == v:
            continue
        w = _weight(data.get("weight"), weight, where)
        a, b = index[u], index[v]
        if graph.has_edge(a, b):
            graph.edges[a, b]["weight"] += w
        else:
            graph.add_edge(a, b, weight=w)
    return graph


def _read_edge_list(path: Path) -> nx.MultiGraph:
    """Two or three columns (whitespace, or commas for .csv); ``#`` starts a comment."""
    graph = nx.MultiGraph()
    rows = [line.split("#", 1)[0] for line in path.read_text().splitlines()]
    rows = [r.split(",") if path.suffix.lower() == ".csv" else r.split() for r in rows if r.strip()]
    for number, row in enumerate(rows):
        fields = [f.strip() for f in row]
        if number == 0 and {f.lower() for f in fields[:2]} <= HEADER_NAMES:
            continue
        if len(fields) not in (2, 3) or not all(fields):
            raise ValueError(f"row {number + 1}: expected 'u v [weight]', got {row!r}")
        weight = {"weight": float(fields[2])} if len(fields) == 3 else {}
        graph.add_edge(fields[0], fields[1], **weight)
    return graph


def _read_file(path: Path | str | None) -> nx.Graph:
    """Read a graph file, choosing the reader by suffix; every failure is a GraphError."""
    if path is None:
        raise GraphError("kind 'file' needs a path")
    path = Path(path)
    if not path.is_file():
        raise GraphError(f"{path}: no such graph file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".graphml":
            return nx.read_graphml(path)
        if suffix == ".gml":
            graph = nx.read_gml(path, label=None)
            labels = [graph.nodes[n].get("label") for n in graph]
            if None not in labels and len(set(labels)) == len(labels):
                graph = nx.relabel_nodes(graph, dict(zip(graph, labels, strict=True)))
            return graph
        if suffix in EDGE_LIST_SUFFIXES:
            return _read_edge_list(path)
    except Exception as error:  # readers raise many types; all mean "does not parse"
        raise GraphError(f"{path}: cannot read graph: {_one_line(error)}") from None
    known = ", ".join((".graphml", ".gml", *EDGE_LIST_SUFFIXES))
    raise GraphError(f"{path}: unknown graph file type {suffix or '(none)'!r} (use {known})")


def _square(agents: int) -> tuple[int, int]:
    rows = max(r for r in range(1, math.isqrt(agents) + 1) if agents % r == 0)
    return rows, agents // rows


def _lattice(config: NetworkConfig) -> nx.Graph:
    """A ``rows x cols`` grid; a missing side is derived from ``agents`` (both: most square)."""
    n, rows, cols = config.agents, config.rows, config.cols
    if not rows and not cols:
        if n < 2:
            raise ValueError(f"agents must be at least 2, got {n}")
        rows, cols = _square(n)
    elif not rows or not cols:
        given = rows or cols
        if n % given:
            raise ValueError(f"agents={n} is not a multiple of {given}")
        rows, cols = rows or n // cols, cols or n // rows
    return nx.grid_2d_graph(rows, cols)


def _generate(config: NetworkConfig, seed: int) -> tuple[nx.Graph, dict[Any, int] | None]:
    """Make the raw generator graph and its blocks; raise ValueError on bad parameters."""
    kind, n, k, m = config.kind, config.agents, config.k, config.m
    c, s = config.communities, config.size
    if kind in ("complete", "ring", "star", "small_world", "scale_free") and n < 2:
        raise ValueError(f"agents must be at least 2, got {n}")
    if kind == "complete":
        return nx.complete_graph(n), None
    if kind == "ring":
        return nx.cycle_graph(n), None
    if kind == "star":
        return nx.star_graph(n - 1), None
    if kind == "lattice":
        return _lattice(config), None
    if kind == "small_world":
        if not 2 <= k < n:
            raise ValueError(f"k must be in 2..agents-1, got k={k}, agents={n}")
        return nx.connected_watts_strogatz_graph(n, k, config.p, tries=1000, seed=seed), None
    if kind == "scale_free":
        if not 1 <= m < n:
            raise ValueError(f"m must be in 1..agents-1, got m={m}, agents={n}")
        return nx.barabasi_albert_graph(n, m, seed=seed), None
    if kind == "caveman":
        if c == 1:
            return nx.complete_graph(s), None
        if s < 3:
            raise ValueError(f"size must be at least 3 with several communities, got {s}")
        return nx.connected_caveman_graph(c, s), {v: v // s for v in range(c * s)}
    if kind == "sbm":
        probs = [[config.p_in if i == j else config.p_out for j in range(c)] for i in range(c)]
        graph = nx.stochastic_block_model([s] * c, probs, seed=seed)
        return graph, {v: v // s for v in graph}
    raise ValueError(f"no generator for kind {kind!r}")  # a kind NetworkConfig admits


def build_graph(config: NetworkConfig, rng: np.random.Generator) -> nx.Graph:
    """Build the society's graph from its ``[network]`` table.

    Args:
        config: the network section (kind and parameters; its defaults are the only ones).
        rng: seeds the random generators; exactly one draw is taken whatever the kind.

    Returns:
        The graph, under the contract in the module docstring.

    Raises:
        GraphError: parameters the kind cannot use (e.g. ``k >= agents``), or a missing or
            unreadable graph file.
    """
    seed = int(rng.integers(2**31))
    if config.kind == "file":
        return _finish(_read_file(config.path), str(config.path), config.weight, None)
    try:
        raw, blocks = _generate(config, seed)
    except (ValueError, nx.NetworkXException) as error:
        raise GraphError(f"{config.kind}: {' '.join(str(error).split())}") from None
    return _finish(raw, config.kind, config.weight, blocks or {})


def communities(graph: nx.Graph) -> dict[int, int]:
    """Each node's community."""
    return {node: int(graph.nodes[node].get("community", 0)) for node in sorted(graph)}


def community_members(graph: nx.Graph) -> dict[int, list[int]]:
    """Each community's nodes, sorted."""
    members: dict[int, list[int]] = {}
    for node, community in communities(graph).items():
        members.setdefault(community, []).append(node)
    return dict(sorted(members.items()))


def between_community_edges(graph: nx.Graph) -> list[tuple[int, int]]:
    """Edges whose ends lie in different communities, as sorted ``(u, v)`` with ``u < v``."""
    label = communities(graph)
    return sorted((min(u, v), max(u, v)) for u, v in graph.edges if label[u] != label[v])
