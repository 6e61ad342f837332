"""The dashboard's network picture: nodes coloured by dialect, shaped by community.

The picture is a matplotlib SVG drawn with networkx and inlined in the page, so its parts
can be found in the browser: between-community edges are the paths of ``g#between-edges``,
within-community edges those of ``g#within-edges``, and each community's nodes are the
markers of ``g#community-<c>``. Edge colour is the divergence dialects are clustered on
(``metrics.dialect_distance``: Jensen-Shannon of word distributions) this round, scaled
from the round's least to its most divergent edge (darker: they speak less alike), so
dialect boundaries stand out.
"""

from __future__ import annotations

import io
import re
import weakref
from typing import TYPE_CHECKING

import matplotlib as mpl
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.optimize import linear_sum_assignment

from society.metrics.dialects import cluster_dialects, distance_matrix

if TYPE_CHECKING:
    from society.sim.model import Society

SHAPES = "os^Dvph8*P"
PALETTE = mpl.colormaps["tab10"]

_layouts: weakref.WeakKeyDictionary[Society, dict[int, np.ndarray]] = weakref.WeakKeyDictionary()


def layout(society: Society) -> dict[int, np.ndarray]:
    """Node positions, computed once per society (seeded) so the picture stays in place."""
    if society not in _layouts:
        _layouts[society] = nx.spring_layout(society.graph, seed=0)
    return _layouts[society]


def dialect_distance(society: Society) -> str:
    """The pair measure dialects are clustered on (``metrics.dialect_distance``)."""
    return society.scenario.metrics.dialect_distance


def latest_pairs(society: Society) -> pd.DataFrame:
    """The pair table of the last measured round (empty if pairs are not measured)."""
    return society.pairs[-1] if society.pairs else pd.DataFrame()


def align_to_communities(dialects: np.ndarray, communities: np.ndarray) -> np.ndarray:
    """Rename dialect labels so each matches the community it overlaps most (Hungarian).

    Cluster numbers are arbitrary and change from round to round; naming a dialect after
    its community keeps colours steady, and a dialect that equals its community gets the
    community's colour. Dialects left without a community get the next free numbers.

    Args:
        dialects: dialect label per agent.
        communities: community per agent, aligned.

    Returns:
        The renamed dialect labels.
    """
    names = np.unique(dialects)
    groups = np.unique(communities)
    overlap = np.array(
        [[np.sum((dialects == d) & (communities == c)) for c in groups] for d in names]
    )
    rows, cols = linear_sum_assignment(-overlap)
    rename = {int(names[r]): int(groups[c]) for r, c in zip(rows, cols, strict=True)}
    spare = (n for n in range(len(names) + int(groups.max()) + 1) if n not in rename.values())
    for name in names:
        if int(name) not in rename:
            rename[int(name)] = next(spare)
    return np.array([rename[int(d)] for d in dialects], dtype=np.int64)


def current_dialects(society: Society) -> dict[int, int]:
    """Each agent's dialect in the last measured round, named after communities.

    Uses the agents' measured ``dialect`` when the metrics provide one, else clusters the
    last pair table (``society.metrics.dialects.cluster_dialects``). Everyone is one
    dialect when no pairs were measured.
    """
    agents = sorted(society.agents, key=lambda a: a.unique_id)
    ids = [a.unique_id for a in agents]
    communities = np.array([a.community for a in agents])
    measured = [society.agent_measures(a.unique_id) for a in agents]
    if all("dialect" in row for row in measured):
        labels = np.array([int(row["dialect"]) for row in measured])
    else:
        pairs = latest_pairs(society)
        if pairs.empty:
            labels = np.zeros(len(ids), dtype=np.int64)
        else:
            metrics = society.scenario.metrics
            distance = distance_matrix(pairs, ids, metrics.dialect_distance)
            labels = cluster_dialects(distance, max_k=metrics.max_dialects)
    return dict(zip(ids, align_to_communities(labels, communities).tolist(), strict=True))


def edge_divergence(society: Society) -> dict[tuple[int, int], float]:
    """The dialect measure between the two agents on each edge (by node), this round."""
    pairs = latest_pairs(society)
    if pairs.empty:
        return {}
    by_agents = {
        (min(i, j), max(i, j)): v
        for i, j, v in zip(
            pairs["agent_i"], pairs["agent_j"], pairs[dialect_distance(society)], strict=True
        )
    }
    node_agent = {a.node: a.unique_id for a in society.agents}
    out = {}
    for u, v in society.graph.edges:
        a, b = sorted((node_agent[u], node_agent[v]))
        if (a, b) in by_agents:
            out[(u, v)] = float(by_agents[(a, b)])
    return out


def network_figure(society: Society, size: tuple[float, float] = (5.2, 4.2)) -> Figure:
    """Draw the society's graph: colour = dialect, marker = community, edge = divergence.

    Args:
        society: the society, drawn as it is now.
        size: figure size in inches.

    Returns:
        A matplotlib figure (not attached to pyplot).
    """
    graph = society.graph
    pos = layout(society)
    dialect_of = current_dialects(society)
    node_dialect = {a.node: dialect_of[a.unique_id] for a in society.agents}
    community = {n: int(graph.nodes[n].get("community", 0)) for n in graph}
    divergence = edge_divergence(society)
    values = list(divergence.values()) or [0.0]
    norm = Normalize(min(values), max(max(values), min(values) + 1e-9))
    cmap = mpl.colormaps["Greys"]

    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    for gid, between in (("within-edges", False), ("between-edges", True)):
        edges = [(u, v) for u, v in graph.edges if (community[u] != community[v]) == between]
        colours = [cmap(0.25 + 0.75 * norm(divergence.get((u, v), 0.0))) for u, v in edges]
        drawn = nx.draw_networkx_edges(
            graph,
            pos,
            edgelist=edges,
            ax=ax,
            width=2.0,
            edge_color=colours or "k",
            style="--" if between else "-",
        )
        if edges:
            drawn.set_gid(gid)
    for c in sorted(set(community.values())):
        nodes = [n for n in graph if community[n] == c]
        drawn = nx.draw_networkx_nodes(
            graph,
            pos,
            nodelist=nodes,
            ax=ax,
            node_size=320,
            edgecolors="black",
            linewidths=1.2,
            node_shape=SHAPES[c % len(SHAPES)],
            node_color=[PALETTE(node_dialect[n] % 10) for n in nodes],
        )
        drawn.set_gid(f"community-{c}")
    nx.draw_networkx_labels(
        graph,
        pos,
        labels={a.node: str(a.unique_id) for a in society.agents},
        ax=ax,
        font_size=7,
        font_color="white",
    )
    dialects = sorted(set(node_dialect.values()))
    handles = [
        Line2D([], [], marker="o", linestyle="", color=PALETTE(d % 10), label=f"dialect {d}")
        for d in dialects
    ] + [
        Line2D(
            [],
            [],
            marker=SHAPES[c % len(SHAPES)],
            linestyle="",
            color="white",
            markeredgecolor="black",
            label=f"community {c}",
        )
        for c in sorted(set(community.values()))
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False, bbox_to_anchor=(1, 1))
    between = sum(1 for u, v in graph.edges if community[u] != community[v])
    ax.set_title(
        f"round {society.round}: {len(dialects)} dialect{'s' * (len(dialects) != 1)}, "
        f"{graph.number_of_edges()} edges ({between} between communities)",
        fontsize=9,
    )
    fig.colorbar(
        mpl.cm.ScalarMappable(norm, mpl.colors.ListedColormap(cmap(np.linspace(0.25, 1, 64)))),
        ax=ax,
        orientation="horizontal",
        shrink=0.6,
        pad=0.02,
        label=f"{dialect_distance(society)} between neighbours",
    )
    return fig


def network_svg(society: Society) -> str:
    """The network picture as an SVG document (string) for inlining in HTML."""
    buffer = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "society"}):
        network_figure(society).savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    svg = text[text.index("<svg") :]
    # Scale to the panel (the viewBox keeps the aspect ratio) instead of a fixed size.
    return re.sub(
        r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
        r'<svg\1 width="100%" height="100%"',
        svg,
        count=1,
    )
