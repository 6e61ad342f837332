"""``verdict.md``: an experiment's hypotheses, effect sizes, p-values and verdicts in prose.

Reads only tables (the sweep index and the results of ``society.app.experiment``), so a verdict
can be rewritten from ``results.parquet`` and ``sweep.parquet`` alone.
"""

from __future__ import annotations

import math

import pandas as pd

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
}
SIDES = {"greater": "one-sided", "less": "one-sided", "two-sided": "two-sided"}


def hypothesis_paragraph(row: pd.Series, confidence: float) -> str:
    """One hypothesis in words, with every number behind the verdict."""
    level = f"{confidence:.0%}"
    verdict = "**holds**" if row["holds"] else "**not supported**"
    n = f"{int(row.get('n_a', 0))} vs {int(row.get('n_b', 0))} runs"
    lines = [
        f"### H{int(row['hypothesis']) + 1}: {row['name']}",
        "",
        f"{verdict}: `{row['direction']}` on {row['tested']} ({n}).",
        "",
        f"- means: {row['a']} {_num(row.get('mean_a', math.nan))}, "
        f"{row['b']} {_num(row.get('mean_b', math.nan))}",
        f"- mean difference ({row['a']} - {row['b']}): {_interval(row, 'mean_difference')} "
        f"({level} bootstrap CI)",
        f"- Cliff's delta: {_interval(row, 'cliffs_delta')} ({level} bootstrap CI)",
        f"- {TESTS[row['test']]}, {SIDES[row['alternative']]}: p = {_num(row['p_value'])}; "
        f"Holm-adjusted p = {_num(row['p_holm'])} against alpha = {_num(row['alpha'])}",
    ]
    if row.get("note"):
        lines.append(f"- {row['note']}")
    if math.isnan(row["p_value"]):
        lines.append("- not tested: a condition has fewer than two runs with a value")
    return "\n".join(lines)


def results_table(results: pd.DataFrame) -> str:
    """The summary table, one line per hypothesis (Markdown)."""
    head = (
        "| # | hypothesis | test | Cliff's delta | mean difference | p | p (Holm) | alpha "
        "| verdict |\n|---|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    for _, row in results.iterrows():
        rows.append(
            f"| H{int(row['hypothesis']) + 1} | `{row['direction']}`: {row['tested']} "
            f"| {row['test']} | {_num(row.get('cliffs_delta', math.nan))} "
            f"| {_num(row.get('mean_difference', math.nan))} | {_num(row['p_value'])} "
            f"| {_num(row['p_holm'])} | {_num(row['alpha'])} "
            f"| {'holds' if row['holds'] else 'not supported'} |"
        )
    return "\n".join(rows)


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
        "## Hypotheses",
        "",
    ]
    for _, row in results.iterrows():
        parts += [hypothesis_paragraph(row, confidence), ""]
    if len(failed):
        parts += ["## Runs that did not finish", ""]
        parts += [f"- `{r.path}`: {r.status} {r.error}" for r in failed.itertuples()] + [""]
    parts += [
        "## Reading this",
        "",
        "Each run contributes one value per hypothesis (one seed, one society). With few runs "
        "the bootstrap intervals are rough and the smallest attainable p-value is limited "
        "(a permutation test with 5 vs 5 runs cannot go below 1/252 one-sided). "
        "'Not supported' means the data do not show the effect at this alpha; it is not "
        "evidence that there is no effect. Per-run values: `values.parquet`; "
        "figure: `figure.png`; runs: `sweep.parquet`.",
        "",
    ]
    return "\n".join(parts)
