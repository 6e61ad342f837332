"""Experiments: named conditions x seeds, hypotheses tested with effect sizes and Holm.

An experiment file (TOML, ``scenarios/experiments/``) names a base scenario, overrides
for every condition, seeds and hypotheses::

    name = "isolation-divergence"
    scenario = "../islands.toml"     # relative to this file
    seeds = 6                        # scenario seed, +1, ... (shared by every condition)
    alpha = 0.05                     # default for hypotheses; Holm across all of them

    [set]                            # overrides for every condition
    rounds = 4

    [conditions.isolated]            # overrides for one condition (empty: the base)
    [conditions.connected]
    events = []

    [[hypotheses]]
    name = "isolation raises divergence between communities"
    metric = "jsd_unigram_between"   # a column of metrics/rounds.parquet
    round = "final"                  # or a round number
    baseline = 0                     # optional: test metric[round] - metric[baseline]
    direction = "isolated > connected"   # A > B | A < B | A != B
    test = "permutation"             # permutation | mannwhitney | bootstrap

``run_experiment`` runs the conditions as a sweep (resumable, any executor), reads each
run's ``metrics/rounds.parquet`` and writes ``verdict.md``, ``results.parquet`` (one row per
hypothesis), ``values.parquet`` (the value tested, per hypothesis and run) and ``figure.png``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from analysis.runs import leading_comment, load_run
from analysis.stats import compare, holm
from society.app.sweep import Cell, OnResult, plan, run_sweep
from society.config import (
    ConfigError,
    Scenario,
    format_errors,
    load_scenario,
    parse_override,
    read_toml,
)
from society.metrics.suite import ROUND_COLUMNS
from society.run import layout
from society.run.preflight import preflight
from society.run.store import atomic_write_parquet, atomic_write_text

DIRECTION = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(>|<|!=)\s*([A-Za-z0-9_.-]+)\s*$")
ALTERNATIVES = {">": "greater", "<": "less", "!=": "two-sided"}
STATS_SEED = 20240


class Hypothesis(BaseModel):
    """One claim: condition A's metric differs from condition B's in a direction."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    metric: str
    round: Annotated[int, Field(ge=0)] | Literal["final"] = "final"
    baseline: int | None = Field(None, ge=0, description="test metric[round] - metric[baseline]")
    direction: str
    test: Literal["permutation", "mannwhitney", "bootstrap"] = "permutation"
    alpha: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _check(self) -> Hypothesis:
        if not DIRECTION.match(self.direction):
            raise ValueError("direction: expected 'A > B', 'A < B' or 'A != B'")
        if self.metric not in ROUND_COLUMNS or self.metric in ("round", "agents"):
            raise ValueError(f"metric: unknown round metric {self.metric!r}")
        return self

    @property
    def sides(self) -> tuple[str, str, str]:
        """``(A, B, alternative)`` with alternative greater | less | two-sided."""
        a, op, b = DIRECTION.match(self.direction).groups()  # type: ignore[union-attr]
        return a, b, ALTERNATIVES[op]

    def describe(self) -> str:
        """What is tested, e.g. ``perplexity (final - round 0)``."""
        where = "final round" if self.round == "final" else f"round {self.round}"
        if self.baseline is None:
            return f"{self.metric} at the {where}"
        return f"{self.metric} change from round {self.baseline} to the {where}"


class Experiment(BaseModel):
    """A whole experiment file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = "experiment"
    description: str = ""
    scenario: str
    seeds: Annotated[int, Field(ge=2)] | list[int] = 5
    alpha: float = Field(0.05, gt=0, lt=1)
    confidence: float = Field(0.95, gt=0, lt=1)
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set")
    conditions: dict[str, dict[str, Any]]
    hypotheses: list[Hypothesis] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Experiment:
        if len(self.conditions) < 2:
            raise ValueError("conditions: need at least two")
        for name in self.conditions:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ValueError(f"conditions.{name}: use letters, digits, _ . - only")
        for i, hypothesis in enumerate(self.hypotheses):
            a, b, _ = hypothesis.sides
            for side in (a, b):
                if side not in self.conditions:
                    raise ValueError(f"hypotheses.{i}.direction: no condition named {side!r}")
            if a == b:
                raise ValueError(f"hypotheses.{i}.direction: compares {a!r} with itself")
        return self


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested TOML tables to dotted keys; lists (``events``) stay whole values."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_experiment(
    path: str | Path,
    overrides: list[str] | None = None,
    seeds: int | None = None,
) -> tuple[Experiment, Scenario]:
    """Read an experiment file and its base scenario (with ``[set]`` and ``--set`` applied).

    Args:
        path: the experiment TOML file.
        overrides: extra ``key.path=value`` strings for every condition (``--set``).
        seeds: replaces the file's ``seeds`` when given.

    Returns:
        The experiment and the base scenario.

    Raises:
        ConfigError: one line naming the file and field.
    """
    path = Path(path)
    origin = str(path)
    data = read_toml(path, "experiment")
    if seeds is not None:
        data["seeds"] = seeds
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_errors(error, origin)) from None
    base_path = (path.resolve().parent / experiment.scenario).resolve()
    if not base_path.is_file():
        raise ConfigError(f"{origin}: scenario: file not found: {base_path}")
    base = load_scenario(base_path, overrides=None)
    base = base.with_overrides(flatten(experiment.overrides), origin=f"{origin} (set)")
    if overrides:
        pairs = dict(parse_override(text) for text in overrides)
        base = base.with_overrides(pairs, origin=f"{origin} (--set)")
    for name, condition in experiment.conditions.items():
        where = f"{origin} (conditions.{name})"
        scenario = base.with_overrides(flatten(condition), origin=where)
        check_hypothesis_rounds(experiment, scenario, where)
        preflight(scenario, where)
    return experiment, base


def check_hypothesis_rounds(experiment: Experiment, scenario: Scenario, origin: str) -> None:
    """Every hypothesis names rounds the runs will have measured (before any run starts).

    Raises:
        ConfigError: a round or baseline past the last round, or one not measured.
    """
    every, last = scenario.metrics.every, scenario.rounds
    for i, hypothesis in enumerate(experiment.hypotheses):
        for key in ("round", "baseline"):
            value = getattr(hypothesis, key)
            if not isinstance(value, int):
                continue
            if value > last:
                raise ConfigError(
                    f"{origin}: hypotheses.{i}.{key}: round {value} is after the last round {last}"
                )
            if value % every and value != last:
                raise ConfigError(
                    f"{origin}: hypotheses.{i}.{key}: round {value} is not measured "
                    f"(metrics.every = {every})"
                )


def cells(experiment: Experiment) -> list[Cell]:
    """One sweep cell per condition, labelled ``condition=<name>``."""
    return [
        Cell({"condition": name}, flatten(overrides))
        for name, overrides in experiment.conditions.items()
    ]


def read_rounds(out: Path, index: pd.DataFrame) -> pd.DataFrame:
    """Every finished run's ``metrics/rounds.parquet`` with ``condition`` and ``seed``."""
    frames = []
    for row in index[index["status"] == layout.DONE].itertuples():
        rounds = load_run(out / row.path, name=row.path).rounds
        rounds["condition"] = row.condition
        rounds["seed"] = row.seed
        frames.append(rounds)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def hypothesis_values(rounds: pd.DataFrame, hypothesis: Hypothesis, origin: str) -> pd.DataFrame:
    """The value each run contributes: metric at ``round`` (minus metric at ``baseline``).

    Returns:
        Columns ``condition``, ``seed``, ``round``, ``value``.

    Raises:
        ConfigError: when the metric or a round is missing from the runs.
    """
    if rounds.empty:
        return pd.DataFrame(columns=["condition", "seed", "round", "value"])
    if hypothesis.metric not in rounds:
        raise ConfigError(f"{origin}: metric {hypothesis.metric!r} is not in rounds.parquet")
    rows = []
    for (condition, seed), run in rounds.groupby(["condition", "seed"], sort=True):
        series = run.set_index("round")[hypothesis.metric]
        at = int(series.index.max()) if hypothesis.round == "final" else hypothesis.round
        for needed in (at, hypothesis.baseline):
            if needed is not None and needed not in series.index:
                raise ConfigError(
                    f"{origin}: round {needed} was not measured in {condition} seed {seed}"
                )
        value = float(series[at])
        if hypothesis.baseline is not None:
            value -= float(series[hypothesis.baseline])
        rows.append({"condition": condition, "seed": seed, "round": at, "value": value})
    return pd.DataFrame(rows)


def evaluate_hypotheses(
    experiment: Experiment, rounds: pd.DataFrame, origin: str = "<experiment>"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Effect sizes, CIs, p-values and Holm-adjusted verdicts for every hypothesis.

    Returns:
        ``(results, values)``: one row per hypothesis, and one per (hypothesis, run).
    """
    results, values = [], []
    for i, hypothesis in enumerate(experiment.hypotheses):
        a, b, alternative = hypothesis.sides
        table = hypothesis_values(rounds, hypothesis, origin)
        table.insert(0, "hypothesis", i)
        values.append(table)
        x = table.loc[table["condition"] == a, "value"].to_numpy(dtype=float)
        y = table.loc[table["condition"] == b, "value"].to_numpy(dtype=float)
        missing = int((~np.isfinite(x)).sum() + (~np.isfinite(y)).sum())
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
        row: dict[str, Any] = {
            "hypothesis": i,
            "name": hypothesis.name or hypothesis.direction,
            "metric": hypothesis.metric,
            "round": hypothesis.round if hypothesis.round == "final" else str(hypothesis.round),
            "baseline": hypothesis.baseline,
            "tested": hypothesis.describe(),
            "a": a,
            "b": b,
            "direction": hypothesis.direction,
            "alternative": alternative,
            "test": hypothesis.test,
            "alpha": hypothesis.alpha or experiment.alpha,
            "note": f"{missing} runs without a value (NaN) left out" if missing else "",
        }
        if len(x) >= 2 and len(y) >= 2:
            comparison = compare(
                x,
                y,
                hypothesis.test,
                alternative,
                confidence=experiment.confidence,
                rng=STATS_SEED + i,
            )
            row.update(comparison.as_dict())
        else:
            row.update({"n_a": len(x), "n_b": len(y), "p_value": float("nan")})
        results.append(row)
    frame = pd.DataFrame(results)
    frame["p_holm"] = holm(frame["p_value"].to_numpy(dtype=float))
    frame["holds"] = frame["p_holm"].le(frame["alpha"]).fillna(False).astype(bool)
    value_frame = pd.concat(values, ignore_index=True) if values else pd.DataFrame()
    return frame, value_frame


def run_experiment(
    path: str | Path,
    out: Path,
    *,
    overrides: list[str] | None = None,
    seeds: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_result: OnResult | None = None,
) -> pd.DataFrame:
    """Run an experiment file into ``out`` and write its verdict.

    Args:
        path: the experiment file.
        out: output directory (rerunning resumes: finished runs are kept).
        overrides: ``--set`` strings applied to every condition.
        seeds: replaces the file's seed count.
        workers: local process pool size.
        scheduler: dask scheduler address.
        on_start: progress callback, see :func:`society.app.sweep.run_sweep`.
        on_result: progress callback, see :func:`society.app.sweep.run_sweep`.

    Returns:
        The results table (one row per hypothesis).
    """
    from analysis.experiment_plots import plot_experiment
    from analysis.verdict import write_verdict

    path, out = Path(path), Path(out)
    experiment, base = load_experiment(path, overrides, seeds)
    specs = plan(base, cells(experiment), experiment.seeds, out, origin=str(path))
    index = run_sweep(
        specs,
        out,
        workers=workers,
        scheduler=scheduler,
        on_start=on_start,
        on_result=on_result,
    )
    shutil.copyfile(path, out / layout.EXPERIMENT)
    rounds = read_rounds(out, index)
    results, values = evaluate_hypotheses(experiment, rounds, str(path))
    atomic_write_parquet(out / layout.RESULTS, results)
    atomic_write_parquet(out / layout.VALUES, values)
    figure = plot_experiment(experiment, rounds, values, results)
    figure.savefig(out / layout.FIGURE, dpi=110)
    text = write_verdict(
        title=experiment.name,
        question=leading_comment(path),
        origin=str(path),
        scenario=experiment.scenario,
        index=index,
        results=results,
        confidence=experiment.confidence,
    )
    atomic_write_text(out / layout.VERDICT, text)
    return results


def summary_rows(results: pd.DataFrame) -> list[tuple[str, ...]]:
    """Short table rows for the CLI: hypothesis, delta, mean difference, p, Holm p, verdict."""
    rows = []
    for row in results.itertuples():
        delta = getattr(row, "cliffs_delta", np.nan)
        diff = getattr(row, "mean_difference", np.nan)
        rows.append(
            (
                str(row.name),
                f"{delta:+.2f}",
                f"{diff:+.4g}",
                f"{row.p_value:.3g}",
                f"{row.p_holm:.3g}",
                "holds" if row.holds else "not supported",
            )
        )
    return rows
