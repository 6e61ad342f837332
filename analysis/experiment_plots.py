"""The experiment figure: one row per hypothesis, trajectories and the values tested.

Left: the hypothesis' metric round by round, a thin line per run and a thick line for each
condition's mean (changes from the baseline round when the hypothesis has one); the tested
round is marked; the real-data control, when run, is dashed. A trend hypothesis shows every
condition of its numeric factor. Right: the value each run contributed, per condition,
with the mean.
Drawn on a bare :class:`matplotlib.figure.Figure`, so no GUI backend is needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

COLOURS = ("#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#66456b", "#00798c")


def _trajectories(rounds: pd.DataFrame, metric: str, baseline: int | None) -> pd.DataFrame:
    table = rounds[["condition", "seed", "round", metric]].copy()
    if baseline is not None:
        start = table[table["round"] == baseline].set_index(["condition", "seed"])[metric]
        keys = pd.MultiIndex.from_frame(table[["condition", "seed"]])
        table[metric] = table[metric].to_numpy() - start.reindex(keys).to_numpy()
    return table


def plot_experiment(
    experiment: Any, rounds: pd.DataFrame, values: pd.DataFrame, results: pd.DataFrame
) -> Figure:
    """Draw every hypothesis of an experiment.

    Args:
        experiment: the experiment (``conditions`` and ``hypotheses`` are read).
        rounds: every run's rounds table with ``condition`` and ``seed`` columns.
        values: the tested values (``hypothesis``, ``condition``, ``seed``, ``value``).
        results: one row per hypothesis (``p_holm``, ``holds``).

    Returns:
        The figure.
    """
    hypotheses = experiment.hypotheses
    figure = Figure(figsize=(10, 3.2 * len(hypotheses)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(hypotheses), 2, width_ratios=(2, 1)))
    colours = {c: COLOURS[i % len(COLOURS)] for i, c in enumerate(experiment.conditions)}
    for i, hypothesis in enumerate(hypotheses):
        left, right = axes[i]
        a, b, _ = hypothesis.sides
        shown = [c for c in experiment.conditions if c != "control"] if not a else [a, b]
        result = results.iloc[i]
        if not rounds.empty:
            table = _trajectories(rounds, hypothesis.metric, hypothesis.baseline)
            control = table[table["condition"] == "control"]
            if len(control) and "control" not in shown:
                mean = control.groupby("round")[hypothesis.metric].mean()
                left.plot(mean.index, mean.to_numpy(), "--", color="grey", label="control")
            for condition in shown:
                part = table[table["condition"] == condition]
                for _, run in part.groupby("seed"):
                    left.plot(
                        run["round"],
                        run[hypothesis.metric],
                        color=colours[condition],
                        alpha=0.25,
                        linewidth=0.8,
                    )
                mean = part.groupby("round")[hypothesis.metric].mean()
                left.plot(
                    mean.index,
                    mean.to_numpy(),
                    color=colours[condition],
                    linewidth=2.2,
                    label=condition,
                )
            tested = values[values["hypothesis"] == i]["round"]
            if len(tested):
                left.axvline(int(tested.max()), color="grey", linestyle=":", linewidth=1)
        label = hypothesis.metric + (
            f" - round {hypothesis.baseline}" if hypothesis.baseline is not None else ""
        )
        left.set_xlabel("round")
        left.set_ylabel(label)
        left.legend(frameon=False, fontsize=8)
        verdict = "holds" if result["holds"] else "not supported"
        left.set_title(
            f"H{i + 1}: {result['direction']}  (Holm p = {result['p_holm']:.3g}, {verdict})",
            fontsize=10,
        )
        rng = np.random.default_rng(0)
        for position, condition in enumerate(shown):
            points = values[(values["hypothesis"] == i) & (values["condition"] == condition)]
            jitter = rng.uniform(-0.08, 0.08, size=len(points))
            right.scatter(position + jitter, points["value"], color=colours[condition], s=18)
            if len(points):
                right.hlines(
                    points["value"].mean(),
                    position - 0.25,
                    position + 0.25,
                    color=colours[condition],
                    linewidth=2.2,
                )
        right.set_xticks(range(len(shown)), shown, fontsize=8 if len(shown) > 3 else None)
        right.set_xlim(-0.6, len(shown) - 0.4)
        right.set_ylabel("value tested")
        if not a:
            effect = f"Spearman rho {result.get('spearman_rho', np.nan):+.2f}"
        else:
            effect = f"Cliff's delta {result.get('cliffs_delta', np.nan):+.2f}"
        right.set_title(effect, fontsize=10)
    return figure
