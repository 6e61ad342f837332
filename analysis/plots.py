"""Figures of finished runs (matplotlib, no GUI backend), gathered in one namespace.

Every figure function takes what ``analysis.runs`` loaded and returns a
:class:`matplotlib.figure.Figure` (the GIF: bytes), or ``None`` when the run holds nothing
to draw (a measure switched off, no pair table, no samples). ``analysis.report`` embeds
them. The functions live in ``curves`` (metric curves), ``dialect_plots`` (heatmaps,
dialect map, network) and ``language_plots`` (new words, ancestor perplexity,
rank-frequency); the look is in ``style``.
"""

from analysis.curves import METRIC_GROUPS, band, conditions, metric_curves, spread
from analysis.dialect_plots import (
    chosen_rounds,
    dialect_map,
    dialect_map_gif,
    divergence_heatmaps,
    map_coordinates,
    matrix_at,
    network_by_dialect,
    read_graph,
)
from analysis.language_plots import ancestor_histograms, neologism_adoption, rank_frequency
from analysis.style import PALETTE, colour, png, shade, shape

__all__ = [
    "METRIC_GROUPS",
    "PALETTE",
    "band",
    "spread",
    "ancestor_histograms",
    "chosen_rounds",
    "colour",
    "conditions",
    "dialect_map",
    "dialect_map_gif",
    "divergence_heatmaps",
    "map_coordinates",
    "matrix_at",
    "metric_curves",
    "neologism_adoption",
    "network_by_dialect",
    "png",
    "rank_frequency",
    "read_graph",
    "shade",
    "shape",
]
