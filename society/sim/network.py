"""Graphs from configuration, their communities, and edits to them.

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


def _generate(kind: str, seed: int, a: dict[str, Any]) -> tuple[nx.Graph, dict[Any, int] | None]:
    """Make the raw generator graph and its blocks; raise ValueError on bad parameters."""
    n, k, m, c, s = a["agents"], a["k"], a["m"], a["communities"], a["size"]
    if kind in ("complete", "ring", "star", "small_world", "scale_free") and n < 2:
        raise ValueError(f"agents must be at least 2, got {n}")
    if kind == "complete":
        return nx.complete_graph(n), None
    if kind == "ring":
        return nx.cycle_graph(n), None
    if kind == "star":
        return nx.star_graph(n - 1), None
    if kind == "lattice":
        rows, cols = a["rows"], a["cols"]
        if rows < 0 or cols < 0:
            raise ValueError(f"rows and cols must not be negative, got {rows} and {cols}")
        if not rows and not cols:
            if n < 2:
                raise ValueError(f"agents must be at least 2, got {n}")
            rows, cols = _square(n)
        elif not rows or not cols:
            given = rows or cols
            if n % given:
                raise ValueError(f"agents={n} is not a multiple of {given}")
            rows, cols = rows or n // cols, cols or n // rows
        return nx.grid_2d_graph(rows, cols), None
    if kind == "small_world":
        if not 2 <= k < n:
            raise ValueError(f"k must be in 2..agents-1, got k={k}, agents={n}")
        return nx.connected_watts_strogatz_graph(n, k, a["p"], tries=1000, seed=seed), None
    if kind == "scale_free":
        if not 1 <= m < n:
            raise ValueError(f"m must be in 1..agents-1, got m={m}, agents={n}")
        return nx.barabasi_albert_graph(n, m, seed=seed), None
    if kind in ("caveman", "sbm") and (c < 1 or s < 1):
        raise ValueError(f"communities and size must be at least 1, got {c} and {s}")
    if kind == "caveman":
        if c == 1:
            return nx.complete_graph(s), None
        if s < 3:
            raise ValueError(f"size must be at least 3 with several communities, got {s}")
        return nx.connected_caveman_graph(c, s), {v: v // s for v in range(c * s)}
    if kind == "sbm":
        p_in, p_out = a["p_in"], a["p_out"]
        probs = [[p_in if i == j else p_out for j in range(c)] for i in range(c)]
        graph = nx.stochastic_block_model([s] * c, probs, seed=seed)
        return graph, {v: v // s for v in graph}
    raise ValueError(f"unknown network kind {kind!r}")


def build_graph(
    kind: str,
    *,
    rng: np.random.Generator,
    agents: int = 8,
    communities: int = 2,
    size: int = 4,
    k: int = 4,
    p: float = 0.1,
    m: int = 2,
    p_in: float = 0.9,
    p_out: float = 0.02,
    rows: int = 0,
    cols: int = 0,
    path: Path | str | None = None,
    weight: float = 1.0,
) -> nx.Graph:
    """Build the society's graph from network configuration.

    Args:
        kind: complete, ring, lattice, small_world, scale_free, caveman, sbm, star or file.
        rng: seeds the random generators; exactly one draw is taken whatever the kind.
        agents: nodes (complete, ring, lattice, small_world, scale_free, star).
        communities: cliques (caveman) or blocks (sbm).
        size: nodes per clique or block.
        k: neighbours per node (small_world).
        p: rewiring probability (small_world).
        m: edges per new node (scale_free).
        p_in: within-block edge probability (sbm).
        p_out: between-block edge probability (sbm).
        rows: lattice rows (0: derived from ``agents``).
        cols: lattice columns (0: derived from ``agents``).
        path: GraphML, GML or edge-list file (kind ``file``).
        weight: edge weight wherever the graph gives none.

    Returns:
        The graph, under the contract in the module docstring.

    Raises:
        GraphError: unknown kind, bad parameters, or a missing or unreadable file.
    """
    seed = int(rng.integers(2**31))
    if not (math.isfinite(weight) and weight > 0):
        raise GraphError(f"{kind}: weight must be a positive number, got {weight}")
    if kind == "file":
        return _finish(_read_file(path), str(path), weight, None)
    params = dict(agents=agents, communities=communities, size=size, k=k, p=p, m=m)
    params.update(p_in=p_in, p_out=p_out, rows=rows, cols=cols)
    try:
        raw, blocks = _generate(kind, seed, params)
    except (ValueError, nx.NetworkXException) as error:
        raise GraphError(f"{kind}: {' '.join(str(error).split())}") from None
    return _finish(raw, kind, weight, blocks or {})


def detect_communities(graph: nx.Graph, rng: np.random.Generator) -> dict[int, int]:
    """Set ``community`` by Louvain (weighted, seeded); ids ordered by smallest member."""
    found = nx.algorithms.community.louvain_communities(graph, seed=int(rng.integers(2**31)))
    for i, group in enumerate(sorted(found, key=min)):
        for node in group:
            graph.nodes[node]["community"] = i
    return communities(graph)


def is_connected(graph: nx.Graph) -> bool:
    """Whether every node can reach every other."""
    return nx.is_connected(graph)


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


def shortest_path_matrix(graph: nx.Graph, nodes: list[int]) -> np.ndarray:
    """Hop counts between ``nodes`` (in that order); ``inf`` where no path exists."""
    out = np.full((len(nodes), len(nodes)), np.inf)
    for i, source in enumerate(nodes):
        lengths = nx.single_source_shortest_path_length(graph, source)
        for j, target in enumerate(nodes):
            out[i, j] = lengths.get(target, np.inf)
    return out


def isolate_communities(graph: nx.Graph) -> list[tuple[int, int]]:
    """Remove every between-community edge; return the removed edges."""
    edges = between_community_edges(graph)
    graph.remove_edges_from(edges)
    return edges


def connect_communities(
    graph: nx.Graph,
    a: int,
    b: int,
    *,
    bridges: int = 1,
    weight: float = 1.0,
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    """Add up to ``bridges`` new random edges between members of communities ``a`` and ``b``.

    Returns:
        The added edges ``(member of a, member of b)``; fewer than ``bridges`` when the two
        communities are already (almost) fully joined.

    Raises:
        ValueError: a community does not exist, ``a == b``, or ``bridges`` is negative.
    """
    members = community_members(graph)
    for name in (a, b):
        if name not in members:
            raise ValueError(f"no community {name}")
    if a == b or bridges < 0:
        raise ValueError(f"need two different communities and bridges >= 0 (got {a}, {b})")
    free = [(u, v) for u in members[a] for v in members[b] if not graph.has_edge(u, v)]
    count = min(bridges, len(free))
    picked = (
        sorted(int(i) for i in rng.choice(len(free), size=count, replace=False)) if count else []
    )
    added = [free[i] for i in picked]
    graph.add_edges_from(added, weight=float(weight))
    return added
