"""Dialect figures of one run: divergence heatmaps, the dialect map and its GIF, the network."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from PIL import Image
from scipy.cluster.hierarchy import dendrogram, linkage
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import squareform
from sklearn.manifold import ClassicalMDS

from analysis.runs import Run
from analysis.style import PALETTE, colour, png, shape
from society.run import layout


def matrix_at(run: Run, round_: int, column: str) -> tuple[np.ndarray, list[int]] | None:
    """The full agent-by-agent matrix of a pair measure at one round (``None`` if partial)."""
    pairs = run.pairs
    if pairs.empty or column not in pairs:
        return None
    part = pairs[pairs["round"] == round_]
    ids = sorted(set(part["agent_i"]) | set(part["agent_j"]))
    n = len(ids)
    if n < 3 or len(part) < n * (n - 1) // 2:
        return None
    position = {a: i for i, a in enumerate(ids)}
    d = np.zeros((n, n))
    i = part["agent_i"].map(position).to_numpy()
    j = part["agent_j"].map(position).to_numpy()
    values = part[column].to_numpy(dtype=float)
    d[i, j] = d[j, i] = values
    finite = d[np.isfinite(d)]
    d[~np.isfinite(d)] = finite.max() if finite.size else 0.0
    return d, ids


def chosen_rounds(run: Run, count: int = 3) -> list[int]:
    """First, middle and last measured rounds (``count`` spread evenly)."""
    rounds = sorted(run.rounds["round"].unique()) if not run.rounds.empty else []
    if not rounds:
        return []
    picks = np.linspace(0, len(rounds) - 1, min(count, len(rounds))).round().astype(int)
    return [int(rounds[i]) for i in dict.fromkeys(picks)]


def _labels(run: Run, round_: int, ids: Sequence[int], column: str) -> np.ndarray:
    agents = run.agents
    if agents.empty or column not in agents:
        return np.zeros(len(ids), dtype=int)
    table = agents[agents["round"] == round_].set_index("agent")[column]
    return table.reindex(list(ids)).fillna(-1).astype(int).to_numpy()


def divergence_heatmaps(run: Run, column: str = "jsd_unigram") -> Figure | None:
    """Divergence between every pair of agents at the first, middle and last rounds.

    Agents are ordered by the dendrogram of average-linkage clustering (drawn above), so
    dialects show as dark blocks on the diagonal; the strips give each agent's dialect
    (top) and community (bottom colour bar).
    """
    rounds = [r for r in chosen_rounds(run) if matrix_at(run, r, column) is not None]
    if not rounds:
        return None
    figure = Figure(figsize=(4.2 * len(rounds), 5.4), layout="constrained")
    grid = figure.add_gridspec(3, len(rounds), height_ratios=(1, 0.12, 3.2))
    finite = run.pairs[column].to_numpy(dtype=float)
    vmax = float(np.nanmax(finite)) if np.isfinite(finite).any() else 1.0
    image = None
    for k, round_ in enumerate(rounds):
        d, ids = matrix_at(run, round_, column)
        tree = linkage(squareform(d, checks=False), method="average")
        top = figure.add_subplot(grid[0, k])
        order = dendrogram(
            tree, ax=top, no_labels=True, color_threshold=0, above_threshold_color="#555555"
        )["leaves"]
        top.set_axis_off()
        top.set_title(f"round {round_}", fontsize=10)
        strip = figure.add_subplot(grid[1, k])
        dialects = _labels(run, round_, ids, "dialect")[order]
        communities = _labels(run, round_, ids, "community")[order]
        cmap = ListedColormap(PALETTE)
        strip.imshow(
            np.vstack([dialects % 10, communities % 10]),
            aspect="auto",
            cmap=cmap,
            vmin=0,
            vmax=len(PALETTE) - 1,
            interpolation="nearest",
        )
        strip.set_yticks([0, 1], ["dialect", "community"], fontsize=7)
        strip.set_xticks([])
        heat = figure.add_subplot(grid[2, k])
        image = heat.imshow(
            d[np.ix_(order, order)], cmap="viridis_r", vmin=0, vmax=vmax, interpolation="nearest"
        )
        heat.set_xlabel("agents (dendrogram order)")
        heat.set_xticks([])
        heat.set_yticks([])
    if image is not None:
        figure.colorbar(image, ax=figure.axes[-1], shrink=0.8, label=column)
    return figure


def map_coordinates(run: Run, column: str = "jsd_unigram") -> pd.DataFrame:
    """Classical MDS of each round's distance matrix, rotated to follow the last round.

    Each round is embedded on its own (scikit-learn ``ClassicalMDS``); then, from the last
    round backwards, each round is rotated/reflected (orthogonal Procrustes) onto the next
    one over the agents they share, so a point's path is an agent's drift, not an
    artefact of axes flipping.

    Returns:
        One row per (round, agent): ``x``, ``y``, ``community``, ``dialect`` (empty when
        no round has a complete pair table).
    """
    rounds = sorted(run.pairs["round"].unique()) if not run.pairs.empty else []
    coords: dict[int, pd.DataFrame] = {}
    for round_ in rounds:
        found = matrix_at(run, int(round_), column)
        if found is None:
            continue
        d, ids = found
        xy = ClassicalMDS(n_components=2, metric="precomputed").fit_transform(d)
        coords[int(round_)] = pd.DataFrame(np.nan_to_num(xy), index=ids, columns=["x", "y"])
    ordered = sorted(coords)
    for later, earlier in zip(ordered[::-1], ordered[::-1][1:], strict=False):
        a, b = coords[earlier], coords[later]
        shared = a.index.intersection(b.index)
        if len(shared) >= 2:
            rotation, _ = orthogonal_procrustes(a.loc[shared].to_numpy(), b.loc[shared].to_numpy())
            coords[earlier] = pd.DataFrame(
                a.to_numpy() @ rotation, index=a.index, columns=["x", "y"]
            )
    frames = []
    for round_, xy in coords.items():
        frame = xy.rename_axis("agent").reset_index()
        frame.insert(0, "round", round_)
        frame["community"] = _labels(run, round_, frame["agent"], "community")
        frame["dialect"] = _labels(run, round_, frame["agent"], "dialect")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def dialect_map(run: Run, column: str = "jsd_unigram") -> Figure | None:
    """Each agent's path through 'language space' (classical MDS), coloured by community.

    Faint lines are trajectories from round 0 (small dot) to the last round (large marker
    whose number is the agent's dialect then). Agents close together speak alike.
    """
    xy = map_coordinates(run, column)
    if xy.empty:
        return None
    figure = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = figure.subplots()
    last = xy["round"].max()
    for _, path in xy.groupby("agent"):
        path = path.sort_values("round")
        c = colour(path["community"].iloc[-1])
        ax.plot(path["x"], path["y"], "-", color=c, alpha=0.35, lw=1)
        ax.plot(path["x"].iloc[0], path["y"].iloc[0], "o", color=c, ms=3, alpha=0.6)
    end = xy[xy["round"] == last]
    for _, row in end.iterrows():
        ax.plot(row["x"], row["y"], "o", color=colour(row["community"]), ms=13, alpha=0.9)
        ax.text(
            row["x"],
            row["y"],
            str(int(row["dialect"])),
            ha="center",
            va="center",
            color="white",
            fontsize=7,
            fontweight="bold",
        )
    for community in sorted(end["community"].unique()):
        ax.plot([], [], "o", color=colour(community), label=f"community {community}")
    ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("MDS 1")
    ax.set_ylabel("MDS 2")
    ax.set_title(f"dialect map, rounds {xy['round'].min()}-{last} ({column})", fontsize=10)
    ax.grid(alpha=0.3)
    return figure


def dialect_map_gif(run: Run, column: str = "jsd_unigram", max_frames: int = 40) -> bytes | None:
    """An animated GIF of the dialect map: one frame per measured round.

    Points are agents coloured by their dialect in that round, shaped by community; axes
    are fixed across frames so motion is drift.
    """
    xy = map_coordinates(run, column)
    if xy.empty:
        return None
    rounds = sorted(xy["round"].unique())
    if len(rounds) > max_frames:
        rounds = [rounds[i] for i in np.linspace(0, len(rounds) - 1, max_frames).astype(int)]
    pad = 0.05 * max(np.ptp(xy["x"]), np.ptp(xy["y"]), 1e-9)
    limits = (xy["x"].min() - pad, xy["x"].max() + pad, xy["y"].min() - pad, xy["y"].max() + pad)
    frames = []
    for round_ in rounds:
        figure = Figure(figsize=(4.5, 4), layout="constrained")
        ax = figure.subplots()
        now = xy[xy["round"] == round_]
        for c, part in now.groupby("community"):
            ax.scatter(
                part["x"],
                part["y"],
                s=80,
                marker=shape(c),
                edgecolors="#333333",
                c=[colour(d) for d in part["dialect"]],
                linewidths=0.8,
            )
        ax.set_xlim(limits[0], limits[1])
        ax.set_ylim(limits[2], limits[3])
        ax.set_title(f"round {round_}: {now['dialect'].nunique()} dialect(s)", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        frames.append(Image.open(io.BytesIO(png(figure, dpi=72))).convert("P"))
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=600, loop=0
    )
    return buffer.getvalue()


def read_graph(run: Run) -> nx.Graph | None:
    """The run's network (``network.json``, node-link), or ``None`` if not written."""
    path = Path(run.path) / layout.NETWORK
    if not path.exists():
        return None
    return nx.node_link_graph(json.loads(path.read_text()), edges="edges")


def component_layout(graph: nx.Graph) -> dict[int, np.ndarray]:
    """Node positions that fill the figure, one connected component at a time.

    Each component is laid out on its own (Kamada-Kawai up to 200 nodes, else spring) in a
    unit box and the boxes go on a grid, largest first, so isolated islands do not drift
    to the corners and leave the middle empty.
    """
    parts = sorted(nx.connected_components(graph), key=lambda c: (-len(c), min(c)))
    columns = int(np.ceil(np.sqrt(len(parts))))
    positions: dict[int, np.ndarray] = {}
    for i, nodes in enumerate(parts):
        sub = graph.subgraph(nodes)
        if len(nodes) == 1:
            local = {next(iter(nodes)): np.zeros(2)}
        elif len(nodes) <= 200:
            local = nx.kamada_kawai_layout(sub)
        else:
            local = nx.spring_layout(sub, seed=0)
        points = np.array(list(local.values()), dtype=float)
        span = np.ptp(points, axis=0).max() if len(points) > 1 else 1.0
        centre = points.mean(axis=0)
        offset = np.array([i % columns, -(i // columns)], dtype=float) * 1.3
        for node, xy in local.items():
            positions[node] = (np.asarray(xy) - centre) / max(span, 1e-9) + offset
    return positions


def network_by_dialect(run: Run) -> Figure | None:
    """The network at the end of the run, nodes coloured by dialect, shaped by community."""
    graph = read_graph(run)
    if graph is None or run.agents.empty or graph.number_of_nodes() == 0:
        return None
    last = run.agents["round"].max()
    end = run.agents[run.agents["round"] == last].set_index("node")
    figure = Figure(figsize=(7.5, 5.5), layout="constrained")
    ax = figure.subplots()
    layout = component_layout(graph)
    nodes = [n for n in graph.nodes if n in end.index]
    nx.draw_networkx_edges(graph, layout, ax=ax, alpha=0.3)
    size = 200 if len(nodes) <= 60 else max(10, 6000 // max(len(nodes), 1))
    dialect = end["dialect"] if "dialect" in end else pd.Series(0, index=end.index)
    community = end["community"]
    for c in sorted(community.unique()):
        members = [n for n in nodes if community.get(n) == c]
        nx.draw_networkx_nodes(
            graph,
            layout,
            nodelist=members,
            ax=ax,
            node_size=size,
            node_shape=shape(c),
            node_color=[colour(dialect.get(n, 0)) for n in members],
            edgecolors="#333333",
            linewidths=0.8,
        )
        ax.scatter([], [], marker=shape(c), color="#999999", label=f"community {c}")
    for d in sorted(dialect.unique()):
        ax.scatter([], [], marker="o", color=colour(d), label=f"dialect {d}")
    figure.legend(fontsize=8, loc="outside right center", frameon=False)
    ax.set_title(f"network at round {last}: colour = dialect, shape = community", fontsize=10)
    ax.margins(0.03)
    ax.set_axis_off()
    return figure
