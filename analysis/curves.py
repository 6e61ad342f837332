"""Metric curves over rounds: one run with its spread across agents, many with a 95% band.

Agents of one society hear each other, so their spread is not a confidence interval: a
single run is drawn with mean +- one standard deviation across agents, called spread.
Confidence bands come only from independent runs (seeds): a bootstrap percentile interval
of the mean, which lies within the values observed and so within each measure's range.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.runs import RunSet
from analysis.stats import seed_interval
from analysis.style import colour

#: The range each measure can take: confidence bands are clipped to it.
SHARE = (0.0, 1.0)
BOUNDS: dict[str, tuple[float, float]] = {
    "dialect_ari": (-0.5, 1.0),
    "mantel_r": (-1.0, 1.0),
    "jsd_unigram_index": (-np.inf, 1.0),
    "dialects": (1.0, np.inf),
    "jsd_unigram_within": (0.0, np.inf),
    "jsd_unigram_between": (0.0, np.inf),
    **{
        c: SHARE
        for c in (
            "distinct_2",
            "self_bleu",
            "hapax_ratio",
            "coverage",
            "novel_2",
            "novel_3",
            "neologism_share",
            "grammatical",
            "real_vs_generated",
        )
    },
}
#: Measures that count things: integer ticks on the value axis.
COUNTS = {"dialects", "unique_1"}

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
    """Mean and 95% bootstrap percentile interval of the mean of ``column`` per ``by``.

    For values from independent runs (one per seed): the interval is clipped to the
    values observed, so it never leaves a measure's range. NaNs are dropped.
    """
    clean = values[[by, column]].dropna()
    rows = []
    for key, group in clean.groupby(by)[column]:
        v = group.to_numpy(dtype=float)
        low, high = seed_interval(v, bounds=(float(v.min()), float(v.max())))
        rows.append({by: key, "mean": v.mean(), "count": v.size, "low": low, "high": high})
    return pd.DataFrame(rows, columns=[by, "mean", "count", "low", "high"])


def spread(values: pd.DataFrame, column: str, by: str = "round") -> pd.DataFrame:
    """Mean and spread (mean +- one standard deviation, within the observed range) per ``by``.

    For agents of one society, who are not independent: not a confidence interval.
    """
    clean = values[[by, column]].dropna()
    out = clean.groupby(by)[column].agg(["mean", "count", "std", "min", "max"]).reset_index()
    sd = out["std"].fillna(0.0)
    out["low"] = np.maximum(out["mean"] - sd, out["min"])
    out["high"] = np.minimum(out["mean"] + sd, out["max"])
    return out


def _is_json_list(values: pd.Series) -> bool:
    return bool(values.astype(str).str.startswith("[").all())


def condition_keys(runs: RunSet) -> list[str]:
    """The parameters that name a condition.

    An experiment's ``condition``, else the varying parameters other than seed, with a
    list-valued one (``events``) replaced by its varying dotted items
    (``events.1.bridges``), or by its length when no item is a column.
    """
    keys = [k for k in runs.varying if k != "seed"]
    if "condition" in keys:
        return ["condition"]
    out = []
    for key in keys:
        if not _is_json_list(runs.params[key]):
            out.append(key)
        elif not any(k.startswith(f"{key}.") for k in keys):
            out.append(f"{key} (count)")
    return out


def _label_value(runs: RunSet, key: str) -> pd.Series:
    if key.endswith(" (count)"):
        column = runs.params[key.removesuffix(" (count)")]
        return column.map(lambda v: len(json.loads(v)) if isinstance(v, str) else 0)
    return runs.params[key]


def conditions(runs: RunSet) -> pd.Series:
    """A label per run naming its condition: the condition name or ``key=value`` pairs.

    Never a raw JSON list: a varying ``events`` is named by the items that differ.
    """
    keys = condition_keys(runs)
    if not keys:
        return pd.Series("all runs", index=runs.params["run"])
    if keys == ["condition"]:  # a run outside the experiment is named by itself
        labels = runs.params["condition"].where(runs.params["condition"].notna())
        labels = labels.fillna(runs.params["run"]).astype(str)
    else:
        values = pd.DataFrame({k: _label_value(runs, k).astype(str) for k in keys})
        labels = values.apply(lambda row: ", ".join(f"{k}={v}" for k, v in row.items()), axis=1)
    return pd.Series(labels.to_numpy(), index=runs.params["run"])


def event_marks(runs: RunSet) -> list[dict[str, object]]:
    """The events of the runs as ``{"round", "label"}`` (one per round and action)."""
    marks: dict[tuple[int, str], None] = {}
    for run in runs.runs:
        for event in run.events:
            if isinstance(event, dict) and "round" in event:
                marks[(int(event["round"]), str(event.get("action", "event")))] = None
    return [{"round": r, "label": a} for r, a in sorted(marks)]


def mark_events(ax, marks: list[dict[str, object]]) -> None:  # noqa: ANN001 (matplotlib Axes)
    """Dashed vertical lines at the events' rounds, labelled at the top of the panel."""
    for mark in marks:
        ax.axvline(mark["round"], color="#555555", ls="--", lw=0.9, alpha=0.8, zorder=0)
        ax.annotate(
            str(mark["label"]),
            (mark["round"], 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2),
            textcoords="offset points",
            fontsize=6.5,
            color="#444444",
            rotation=90,
            va="top",
            ha="left",
        )


def metric_curves(runs: RunSet, group: str) -> Figure | None:
    """Small multiples of one metric group over rounds, with spread or 95% bands.

    One run: the line is the mean over agents and the band their spread (mean +- SD, not
    a confidence interval; round-level measures have none). Several runs: one line per
    condition, the mean of the runs' population means, and a 95% bootstrap percentile
    band across runs (seeds).

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
    figure = Figure(figsize=(4.2 * cols, 2.8 * rows + 0.5), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, cols, squeeze=False).ravel())
    label_of = conditions(runs)
    marks = event_marks(runs)
    figure.events = marks  # read by the report (data-events) and by tests
    for ax, (column, label) in zip(axes, panels, strict=False):
        if single and _finite(runs.agents, column):
            lines = {"agents (mean ± SD: spread)": spread(runs.agents, column)}
        else:
            table = runs.rounds.assign(condition=runs.rounds["run"].map(label_of))
            lines = {
                name: band(part, column) for name, part in table.groupby("condition", sort=True)
            }
        low, high = BOUNDS.get(column, (-np.inf, np.inf))
        for i, (name, line) in enumerate(lines.items()):
            ax.plot(line["round"], line["mean"], "-o", ms=2.5, color=colour(i), label=name)
            ax.fill_between(
                line["round"],
                line["low"].clip(low, high),
                line["high"].clip(low, high),
                color=colour(i),
                alpha=0.2,
            )
        mark_events(ax, marks)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if column in COUNTS:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    if single:
        rename = {"all runs": "this run"}
        names = [rename.get(n, n) for n in names]
    figure.legend(
        handles,
        names,
        loc="outside lower center",
        ncols=legend_columns(names, figure.get_figwidth()),
        fontsize=8,
        frameon=False,
    )
    return figure


def legend_columns(names: list[str], width: float, most: int = 4) -> int:
    """As many legend columns (up to ``most``) as fit the longest name across ``width`` inches.

    At 8 points a character is at most about 1/14 inch wide; each entry adds its marker.
    """
    if not names:
        return 1
    per_entry = max(len(n) for n in names) + 6
    return max(1, min(len(names), most, int(width * 14 // per_entry)))
