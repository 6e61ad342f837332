"""The dashboard's network picture: nodes coloured by dialect, shaped by community.

The picture is a matplotlib SVG drawn with networkx and inlined in the page, so its parts
can be found in the browser: between-community edges are the paths of ``g#between-edges``,
within-community edges those of ``g#within-edges``, and each community's nodes are the
markers of ``g#community-<c>``. Node colour is the dialect the measurement suite gave each
agent (``society.metrics.measures.dialect``: a split only when the permutation test's
``dialect_p`` is below ``metrics.dialect_alpha``); the title names the count and that
p-value, and agents the suite has not measured yet are grey. Edge colour is the divergence
dialects are clustered on (``metrics.dialect_distance``, its null-corrected ``_excess``
twin when ``metrics.dialect_values = "excess"``) this round, scaled from the round's least
to its most divergent edge (darker: they speak less alike), so dialect boundaries stand out.
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

if TYPE_CHECKING:
    from society.sim.model import Society

SHAPES = "os^Dvph8*P"
PALETTE = mpl.colormaps["tab10"]
UNMEASURED = "#bbbbbb"
"""The colour of agents without a measured dialect (e.g. newcomers since the last round)."""

_layouts: weakref.WeakKeyDictionary[Society, dict[int, np.ndarray]] = weakref.WeakKeyDictionary()


def layout(society: Society) -> dict[int, np.ndarray]:
    """Node positions, computed once per society (seeded) so the picture stays in place."""
    if society not in _layouts:
        _layouts[society] = nx.spring_layout(society.graph, seed=0)
    return _layouts[society]


def dialect_distance(society: Society) -> str:
    """The pair column dialects are clustered on (``metrics.dialect_distance``).

    Its null-corrected ``_excess`` twin when ``metrics.dialect_values = "excess"`` and the
    pair table carries it, else the raw column.
    """
    metrics = society.scenario.metrics
    excess = f"{metrics.dialect_distance}_excess"
    if metrics.dialect_values == "excess" and excess in latest_pairs(society):
        return excess
    return metrics.dialect_distance


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


def current_dialects(society: Society) -> dict[int, int | None]:
    """Each agent's measured dialect in the last measured round, named after communities.

    The labels are the measurement suite's (calibrated: one dialect unless its permutation
    test rejects); nothing is re-clustered here. An agent without a measured dialect (no
    round measured yet, or it joined since) maps to ``None``.
    """
    agents = sorted(society.agents, key=lambda a: a.unique_id)
    measured = {a.unique_id: society.agent_measures(a.unique_id).get("dialect") for a in agents}
    known = [a for a in agents if measured[a.unique_id] is not None]
    out: dict[int, int | None] = dict.fromkeys(measured)
    if known:
        labels = np.array([int(measured[a.unique_id]) for a in known])
        names = align_to_communities(labels, np.array([a.community for a in known]))
        out.update(zip([a.unique_id for a in known], names.tolist(), strict=True))
    return out


def dialect_title(society: Society, dialects: int) -> str:
    """The count of dialects with the test behind it, e.g. ``2 dialects (p = 0.01)``."""
    if not dialects:
        return "dialects not measured"
    p = society.latest.get("dialect_p", float("nan"))
    test = f" (p = {p:.2g})" if np.isfinite(p) else " (untested)"
    return f"{dialects} dialect{'s' * (dialects != 1)}{test}"


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


def colour(dialect: int | None) -> str | tuple[float, ...]:
    """A dialect's node colour (grey when it was not measured)."""
    return UNMEASURED if dialect is None else PALETTE(dialect % 10)


def legend_label(dialect: int | None) -> str:
    """A dialect's legend entry."""
    return "dialect not measured" if dialect is None else f"dialect {dialect}"


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
            node_color=[colour(node_dialect[n]) for n in nodes],
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
    dialects = sorted({d for d in node_dialect.values() if d is not None})
    unmeasured = None in node_dialect.values()
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colour(d), label=legend_label(d))
        for d in [*dialects, *[None] * unmeasured]
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
        f"round {society.round}: {dialect_title(society, len(dialects))}, "
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
