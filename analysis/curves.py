"""Metric curves over rounds with 95% confidence bands (one run or many)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from analysis.runs import RunSet
from analysis.style import colour

#: Figure groups of metric curves: (column, label).
METRIC_GROUPS: dict[str, list[tuple[str, str]]] = {
    "diversity": [
        ("distinct_2", "distinct-2"),
        ("entropy", "unigram entropy (nats)"),
        ("unique_1", "unique words"),
        ("self_bleu", "self-BLEU (higher = less diverse)"),
        ("hapax_ratio", "hapax ratio"),
        ("mean_length", "words per utterance"),
    ],
    "distribution": [
        ("perplexity", "held-out perplexity"),
        ("zipf", "Zipf exponent (MLE)"),
        ("tail_mass_ratio", "tail mass / round 0"),
        ("coverage", "held-out vocabulary coverage"),
    ],
    "novelty": [
        ("novel_2", "novel bigram share"),
        ("novel_3", "novel trigram share"),
        ("neologism_share", "neologism share of tokens"),
        ("grammatical", "grammatical share"),
        ("ancestor_ppl", "perplexity under the ancestor"),
        ("real_vs_generated", "real-vs-generated accuracy"),
        ("semantic_drift", "semantic drift (cosine)"),
        ("semantic_diversity", "semantic diversity"),
    ],
    "dialects": [
        ("jsd_unigram_within", "JSD within communities"),
        ("jsd_unigram_between", "JSD between communities"),
        ("jsd_unigram_index", "within/between index"),
        ("dialects", "dialects found"),
        ("dialect_ari", "ARI dialects vs communities"),
        ("mantel_r", "Mantel r (language vs hops)"),
    ],
}


def _finite(frame: pd.DataFrame, column: str) -> bool:
    return column in frame and bool(np.isfinite(pd.to_numeric(frame[column], "coerce")).any())


def band(values: pd.DataFrame, column: str, by: str = "round") -> pd.DataFrame:
    """Mean and 95% t-interval of the mean of ``column`` per ``by`` (NaNs dropped)."""
    clean = values[[by, column]].dropna()
    grouped = clean.groupby(by)[column]
    out = grouped.agg(["mean", "count", "std"]).reset_index()
    t = stats.t.ppf(0.975, np.maximum(out["count"] - 1, 1))
    half = np.where(out["count"] > 1, t * out["std"] / np.sqrt(out["count"]), 0.0)
    out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    return out


def conditions(runs: RunSet) -> pd.Series:
    """A label per run naming its condition (the varying parameters other than seed)."""
    keys = [k for k in runs.varying if k != "seed"]
    if not keys:
        return pd.Series("all runs", index=runs.params["run"])
    labels = (
        runs.params[keys]
        .astype(str)
        .apply(lambda row: ", ".join(f"{k}={v}" for k, v in row.items()), axis=1)
    )
    return pd.Series(labels.to_numpy(), index=runs.params["run"])


def metric_curves(runs: RunSet, group: str) -> Figure | None:
    """Small multiples of one metric group over rounds, with 95% confidence bands.

    One run: the line is the mean over agents and the band its 95% confidence interval
    across agents (round-level measures have no band). Several runs: one line per
    condition, the mean of the runs' population means, the band across runs.

    Args:
        runs: the loaded runs.
        group: a key of ``METRIC_GROUPS``.

    Returns:
        The figure, or ``None`` when no metric of the group was measured.
    """
    single = len(runs.runs) == 1
    panels = [(c, label) for c, label in METRIC_GROUPS[group] if _finite(runs.rounds, c)]
    if not panels:
        return None
    cols = 3 if len(panels) > 4 else 2
    rows = -(-len(panels) // cols)
    figure = Figure(figsize=(4.2 * cols, 2.8 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, cols, squeeze=False).ravel())
    label_of = conditions(runs)
    for ax, (column, label) in zip(axes, panels, strict=False):
        if single and _finite(runs.agents, column):
            lines = {"agents": band(runs.agents, column)}
        else:
            table = runs.rounds.assign(condition=runs.rounds["run"].map(label_of))
            lines = {
                name: band(part, column) for name, part in table.groupby("condition", sort=True)
            }
        for i, (name, line) in enumerate(lines.items()):
            ax.plot(line["round"], line["mean"], "-o", ms=2.5, color=colour(i), label=name)
            ax.fill_between(line["round"], line["low"], line["high"], color=colour(i), alpha=0.2)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("round")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    if not single and len(set(label_of)) > 1:
        axes[0].legend(fontsize=7, loc="best")
    return figure
