"""``verdict.md``: an experiment's hypotheses, effect sizes, p-values and verdicts in prose.

Reads only tables (the sweep index and the results of ``society.app.experiment``), so a verdict
can be rewritten from ``results.parquet`` and ``sweep.parquet`` alone.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.stats import detectable_shift, smallest_pvalue
from society.run import layout


def _num(value: float) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.4g}")
    )


def _interval(row: pd.Series, name: str) -> str:
    return f"{_num(row.get(name, math.nan))} [{_num(row.get(f'{name}_low', math.nan))}, " + (
        f"{_num(row.get(f'{name}_high', math.nan))}]"
    )


TESTS = {
    "permutation": "permutation test of the difference in means",
    "mannwhitney": "Mann-Whitney U test",
    "bootstrap": "bootstrap test of equal means (studentised, Efron & Tibshirani 16.2)",
    "spearman": "permutation test of Spearman's rank correlation with the factor",
}
SIDES = {"greater": "one-sided", "less": "one-sided", "two-sided": "two-sided"}


def per_seed_lines(values: pd.DataFrame | None, row: pd.Series) -> list[str]:
    """Per condition of a hypothesis: mean, standard deviation and every seed's value."""
    if values is None or values.empty:
        return []
    mine = values[values["hypothesis"] == row["hypothesis"]]
    if row["test"] != "spearman":
        mine = mine[mine["condition"].isin([row["a"], row["b"]])]
    elif "level" in mine:
        mine = mine[np.isfinite(mine["level"])]
    lines = []
    for condition, group in mine.groupby("condition", sort=False):
        v = group["value"].to_numpy(dtype=float)
        sd = float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else math.nan
        seeds = ", ".join(f"{s}: {_num(x)}" for s, x in zip(group["seed"], v, strict=True))
        lines.append(
            f"- {condition}: mean {_num(float(np.nanmean(v)))}, sd {_num(sd)} (seeds {seeds})"
        )
    return lines


def power_line(row: pd.Series, hypotheses: int) -> str:
    """What the test can and cannot detect with this many runs."""
    n_a, n_b = int(row.get("n_a", 0) or 0), int(row.get("n_b", 0) or 0)
    if row["test"] == "spearman" or n_a < 2 or n_b < 2:
        return ""
    floor = smallest_pvalue(n_a, n_b, row["alternative"])
    shift = detectable_shift(n_a, n_b, float(row["alpha"]) / hypotheses, row["alternative"])
    reach = "can" if floor * hypotheses <= row["alpha"] else "cannot"
    return (
        f"- detectable at this size: with {n_a} vs {n_b} runs a rank or permutation test "
        f"cannot give p below 1/C({n_a + n_b},{n_a}) = {_num(floor)}, so after Holm over "
        f"{hypotheses} hypotheses it {reach} reach alpha; a shift of about {shift:.2f} "
        "standard deviations of one run is found 80% of the time (normal approximation, "
        "Bonferroni level); smaller effects are likely reported 'not supported'"
    )


def hypothesis_paragraph(
    row: pd.Series,
    confidence: float,
    values: pd.DataFrame | None = None,
    hypotheses: int = 1,
) -> str:
    """One hypothesis in words, with every number behind the verdict."""
    level = f"{confidence:.0%}"
    verdict = "**holds**" if row["holds"] else "**not supported**"
    head = [f"### H{int(row['hypothesis']) + 1}: {row['name']}", ""]
    test = f"- {TESTS[row['test']]}, {SIDES[row['alternative']]}: p = {_num(row['p_value'])}; "
    test += f"Holm-adjusted p = {_num(row['p_holm'])} against alpha = {_num(row['alpha'])}"
    if row["test"] == "spearman":
        lines = head + [
            f"{verdict}: {row['direction']} on {row['tested']} ({int(row.get('n_a', 0))} runs).",
            "",
            f"- Spearman rho: {_num(row.get('spearman_rho', math.nan))}",
            f"- least-squares slope: {_interval(row, 'slope')} ({level} bootstrap percentile "
            "interval over runs)",
            test,
            *per_seed_lines(values, row),
        ]
        return "\n".join(lines)
    n = f"{int(row.get('n_a', 0))} vs {int(row.get('n_b', 0))} runs"
    lines = head + [
        f"{verdict}: `{row['direction']}` on {row['tested']} ({n}).",
        "",
        f"- means: {row['a']} {_num(row.get('mean_a', math.nan))}, "
        f"{row['b']} {_num(row.get('mean_b', math.nan))}",
        f"- mean difference ({row['a']} - {row['b']}): {_interval(row, 'mean_difference')} "
        f"({level} bootstrap CI)",
        f"- Cliff's delta: {_interval(row, 'cliffs_delta')} ({level} bootstrap CI)",
        test,
        *per_seed_lines(values, row),
    ]
    power = power_line(row, hypotheses)
    if power:
        lines.append(power)
    if row.get("note"):
        lines.append(f"- {row['note']}")
    if math.isnan(row["p_value"]):
        lines.append("- not tested: a condition has fewer than two runs with a value")
    return "\n".join(lines)


def results_table(results: pd.DataFrame) -> str:
    """The summary table, one line per hypothesis (Markdown).

    With a real-data control, ``A / control`` and ``B / control`` are each side's metric
    at the tested round as a mean per-seed ratio to the control.
    """
    ratios = "ratio_a" in results
    extra = " A / control | B / control |" if ratios else ""
    head = (
        "| # | hypothesis | test | Cliff's delta (or rho) | mean difference (or slope) | p "
        f"| p (Holm) | alpha | verdict |{extra}\n|---|---|---|---|---|---|---|---|---|"
        + ("---|---|" if ratios else "")
    )
    rows = [head]
    for _, row in results.iterrows():
        effect = row.get("spearman_rho") if row["test"] == "spearman" else row.get("cliffs_delta")
        size = row.get("slope") if row["test"] == "spearman" else row.get("mean_difference")
        line = (
            f"| H{int(row['hypothesis']) + 1} | `{row['direction']}`: {row['tested']} "
            f"| {row['test']} | {_num(_value(effect))} | {_num(_value(size))} "
            f"| {_num(row['p_value'])} | {_num(row['p_holm'])} | {_num(row['alpha'])} "
            f"| {'holds' if row['holds'] else 'not supported'} |"
        )
        if ratios:
            line += f" {_num(_value(row.get('ratio_a')))} | {_num(_value(row.get('ratio_b')))} |"
        rows.append(line)
    return "\n".join(rows)


def _value(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def control_table(controls: pd.DataFrame | None) -> list[str]:
    """Every tested metric as a ratio to the real-data control, seed by seed (Markdown)."""
    if controls is None or controls.empty:
        return []
    lines = [
        "## Against the real-data control",
        "",
        "The control is the base scenario with only fresh real text (`real_data.fraction = "
        "1`), so it carries every effect of the design (data size, sampling) but none of "
        "learning from generated text. Ratio = condition / control, seed by seed, at the "
        "tested round.",
        "",
        "| metric | round | condition | control (mean) | condition (mean) | ratio mean | "
        "ratio sd | ratio min | ratio per seed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (metric, at, condition), group in controls.groupby(
        ["metric", "round", "condition"], sort=False
    ):
        r = group["ratio"].to_numpy(dtype=float)
        sd = float(np.nanstd(r, ddof=1)) if np.isfinite(r).sum() > 1 else math.nan
        seeds = ", ".join(f"{s}: {x:.3g}" for s, x in zip(group["seed"], r, strict=True))
        lines.append(
            f"| {metric} | {at} | {condition} | {_num(group['control'].mean())} "
            f"| {_num(group['value'].mean())} | {_num(float(np.nanmean(r)))} | {_num(sd)} "
            f"| {_num(float(np.nanmin(r)))} | {seeds} |"
        )
    return [*lines, ""]


def runs_line(index: pd.DataFrame) -> str:
    """How many runs per condition finished or failed."""
    parts = []
    for condition, group in index.groupby("condition", sort=False):
        done = int((group["status"] == layout.DONE).sum())
        parts.append(f"{condition}: {done}/{len(group)} done")
    seeds = sorted(index["seed"].unique())
    return f"Runs: {'; '.join(parts)}. Seeds {', '.join(str(s) for s in seeds)}."


def write_verdict(
    *,
    title: str,
    question: str,
    origin: str,
    scenario: str,
    index: pd.DataFrame,
    results: pd.DataFrame,
    confidence: float = 0.95,
    values: pd.DataFrame | None = None,
    controls: pd.DataFrame | None = None,
) -> str:
    """The Markdown verdict of an experiment.

    Args:
        title: the experiment's name.
        question: the file's header comment (question and expected result).
        origin: the experiment file.
        scenario: the base scenario, as the file names it.
        index: the sweep index (``sweep.parquet``).
        results: one row per hypothesis (``results.parquet``).
        confidence: level of the bootstrap intervals.
        values: the value each run contributes (``values.parquet``): per-seed lines.
        controls: ratios to the real-data control (``control_ratios``), when run.

    Returns:
        The text of ``verdict.md``.
    """
    failed = index[index["status"] != layout.DONE]
    parts = [
        f"# Verdict: {title}",
        "",
        f"Experiment file `{origin}`, base scenario `{scenario}`.",
        "",
    ]
    if question:
        parts += ["> " + line if line else ">" for line in question.splitlines()] + [""]
    parts += [
        runs_line(index),
        "",
        f"{len(results)} hypotheses; p-values are Holm-adjusted across all of them, and a "
        "hypothesis holds when its adjusted p-value is at most its alpha. Effects are "
        "condition A minus condition B.",
        "",
        results_table(results),
        "",
        *control_table(controls),
        "## Hypotheses",
        "",
    ]
    for _, row in results.iterrows():
        parts += [hypothesis_paragraph(row, confidence, values, len(results)), ""]
    if len(failed):
        parts += ["## Runs that did not finish", ""]
        parts += [f"- `{r.path}`: {r.status} {r.error}" for r in failed.itertuples()] + [""]
    parts += [
        "## Reading this",
        "",
        "Each run contributes one value per hypothesis (one seed, one society); intervals "
        "and tests come only from these independent runs, never from the spread across "
        "agents of one society (who hear each other). With few runs the bootstrap intervals "
        "are rough and the smallest attainable p-value is limited (a permutation test with "
        "5 vs 5 runs cannot go below 1/252 one-sided, 10 vs 10 not below 1/184,756). "
        "'Not supported' means the data do not show the effect at this alpha; it is not "
        "evidence that there is no effect. Per-run values: `values.parquet`; "
        "figure: `figure.png`; runs: `sweep.parquet`.",
        "",
    ]
    return "\n".join(parts)
