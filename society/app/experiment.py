"""Experiments: named conditions x seeds, hypotheses tested with effect sizes and Holm.

An experiment file (TOML, ``scenarios/experiments/``) names a base scenario, overrides
for every condition, seeds and hypotheses::

    name = "isolation-divergence"
    scenario = "../islands.toml"     # relative to this file
    seeds = 10                       # scenario seed, +1, ... (shared by every condition)
    alpha = 0.05                     # default for hypotheses; Holm across all of them
    control = true                   # add "control": real_data.fraction = 1, else the base

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
    over = "round"                   # round: the value at `round`; slope | area: the
                                     # least-squares slope or the area of metric - metric
                                     # [baseline or first round] over the rounds up to `round`

A numeric factor adds one condition per value (``<name>-<value>``), and a hypothesis with
``trend = "increasing"`` (or ``"decreasing"``) tests it by Spearman's rank correlation over
all its runs (a permutation test) with the least-squares slope and its bootstrap interval::

    [factor]
    name = "bridges"
    key = "events.1.bridges"
    values = [0, 2, 4, 8]             # or a range: "0:8:2"

    [factor.linked]                   # optional: keys that vary with it, value by value
    events.1.weight = [0.5, 1, 1, 2]

    [[hypotheses]]
    metric = "jsd_unigram_between"
    trend = "decreasing"

Unless ``control = false``, the experiment also runs a real-data control (the base scenario
with ``real_data.fraction = 1``): the verdict states every tested metric as a ratio to it.
``run_experiment`` runs the conditions as a sweep (resumable, any executor), reads each
run's ``metrics/rounds.parquet`` and writes ``verdict.md``, ``results.parquet`` (one row per
hypothesis), ``values.parquet`` (the value tested, per hypothesis and run) and ``figure.png``.
Every condition runs the same seeds, so ratios to the control are taken seed by seed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from analysis.runs import leading_comment, load_run
from analysis.stats import compare, holm, trend
from society.app.sweep import Cell, OnResult, parse_range, plan, run_sweep
from society.config import (
    ConfigError,
    Scenario,
    format_errors,
    load_scenario,
    parse_override,
    read_toml,
    resolve_paths,
)
from society.metrics.suite import ROUND_COLUMNS
from society.run import layout
from society.run.preflight import preflight
from society.run.store import atomic_write_parquet, atomic_write_text

DIRECTION = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(>|<|!=)\s*([A-Za-z0-9_.-]+)\s*$")
ALTERNATIVES = {">": "greater", "<": "less", "!=": "two-sided"}
STATS_SEED = 20240
CONTROL = "control"
CONTROL_SET = {"real_data.fraction": 1.0, "real_data.schedule": []}
"""The real-data control: the base scenario with fresh real text only."""
TRENDS = {"increasing": "greater", "decreasing": "less", "monotone": "two-sided"}


class Hypothesis(BaseModel):
    """One claim: condition A's metric differs from condition B's in a direction."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    metric: str
    round: Annotated[int, Field(ge=0)] | Literal["final"] = "final"
    baseline: int | None = Field(None, ge=0, description="test metric[round] - metric[baseline]")
    over: Literal["round", "slope", "area"] = Field(
        "round", description="the value at round, or the slope or area over rounds up to it"
    )
    direction: str = ""
    trend: Literal["increasing", "decreasing", "monotone"] | None = Field(
        None, description="test the metric against the numeric [factor] (instead of direction)"
    )
    test: Literal["permutation", "mannwhitney", "bootstrap"] = "permutation"
    alpha: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _check(self) -> Hypothesis:
        if self.trend is not None:
            if self.direction:
                raise ValueError("direction: give either direction or trend, not both")
        elif not DIRECTION.match(self.direction):
            raise ValueError("direction: expected 'A > B', 'A < B' or 'A != B'")
        if self.metric not in ROUND_COLUMNS or self.metric in ("round", "agents"):
            raise ValueError(f"metric: unknown round metric {self.metric!r}")
        return self

    @property
    def sides(self) -> tuple[str, str, str]:
        """``(A, B, alternative)``; for a trend ``("", "", alternative)``."""
        if self.trend is not None:
            return "", "", TRENDS[self.trend]
        a, op, b = DIRECTION.match(self.direction).groups()  # type: ignore[union-attr]
        return a, b, ALTERNATIVES[op]

    def describe(self) -> str:
        """What is tested, e.g. ``perplexity change from round 0 to the final round``."""
        where = "final round" if self.round == "final" else f"round {self.round}"
        start = f"round {self.baseline}" if self.baseline is not None else "the first round"
        if self.over == "slope":
            return f"{self.metric} slope per round from {start} to the {where}"
        if self.over == "area":
            return f"{self.metric} area above {start} up to the {where} (metric x rounds)"
        if self.baseline is None:
            return f"{self.metric} at the {where}"
        return f"{self.metric} change from round {self.baseline} to the {where}"


class Factor(BaseModel):
    """A numeric factor: one condition per value, named ``<name>-<value>``.

    ``values`` is a list or a range ``"start:stop:step"`` (stop included, as ``--grid``).
    ``linked`` names keys that vary together with ``key``, one value per value of ``key``
    (the i-th with the i-th), as ``society sweep --link`` does; the trend is tested
    against ``values``.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.]+$")
    key: str
    values: list[float] = Field(min_length=2)
    linked: dict[str, Any] = Field(
        default_factory=dict, description="key.path = [one value per value of key]"
    )

    @field_validator("values", mode="before")
    @classmethod
    def _range(cls, values: Any) -> Any:
        return _expand(values)

    @model_validator(mode="after")
    def _distinct(self) -> Factor:
        if len(set(self.values)) != len(self.values):
            raise ValueError("values: each value once")
        linked = {}
        for key, values in flatten(self.linked).items():
            values = _expand(values)
            if key == self.key:
                raise ValueError(f"linked.{key}: is the factor's own key")
            if not isinstance(values, list) or len(values) != len(self.values):
                raise ValueError(
                    f"linked.{key}: needs a list of {len(self.values)} values, one per value"
                )
            linked[key] = values
        self.linked = linked
        return self

    def conditions(self) -> dict[str, dict[str, Any]]:
        """Condition name -> its overrides (the factor's key and every linked key)."""
        out = {}
        for i, value in enumerate(self.values):
            number: float | int = int(value) if float(value).is_integer() else value
            out[f"{self.name}-{number:g}"] = {
                self.key: number,
                **{key: values[i] for key, values in self.linked.items()},
            }
        return out


def _expand(values: Any) -> Any:
    """A ``"start:stop:step"`` string as its values; anything else as it is."""
    if not isinstance(values, str):
        return values
    try:
        expanded = parse_range(values, "range")
    except ConfigError as error:
        raise ValueError(str(error)) from None
    if expanded is None:
        raise ValueError(f"expected a list or start:stop:step, got {values!r}")
    return expanded


class Experiment(BaseModel):
    """A whole experiment file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = "experiment"
    description: str = ""
    scenario: str
    seeds: Annotated[int, Field(ge=2)] | list[int] = 10
    alpha: float = Field(0.05, gt=0, lt=1)
    confidence: float = Field(0.95, gt=0, lt=1)
    control: bool = Field(True, description="add a real-data control (real_data.fraction = 1)")
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set")
    factor: Factor | None = None
    conditions: dict[str, dict[str, Any]] = Field(default_factory=dict)
    hypotheses: list[Hypothesis] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Experiment:
        for name in self.conditions:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ValueError(f"conditions.{name}: use letters, digits, _ . - only")
        if self.factor is not None:
            for name, overrides in self.factor.conditions().items():
                if name in self.conditions:
                    raise ValueError(f"factor: condition {name!r} is also listed")
                self.conditions[name] = overrides
        if self.control and CONTROL not in self.conditions:
            self.conditions[CONTROL] = dict(CONTROL_SET)
        if len(self.conditions) < 2:
            raise ValueError("conditions: need at least two")
        for i, hypothesis in enumerate(self.hypotheses):
            if hypothesis.trend is not None:
                if self.factor is None:
                    raise ValueError(f"hypotheses.{i}.trend: needs a [factor]")
                continue
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


def is_experiment(path: str | Path) -> bool:
    """Whether a TOML file is an experiment (it names hypotheses) rather than a scenario.

    Raises:
        ConfigError: when the file cannot be read.
    """
    data = read_toml(Path(path), "experiment")
    return "hypotheses" in data or "conditions" in data


def load_experiment(
    path: str | Path,
    overrides: list[str] | None = None,
    seeds: int | None = None,
    *,
    local_files: bool = True,
) -> tuple[Experiment, Scenario]:
    """Read an experiment file and its base scenario (with ``[set]`` and ``--set`` applied).

    Args:
        path: the experiment TOML file.
        overrides: extra ``key.path=value`` strings for every condition (``--set``).
        seeds: replaces the file's ``seeds`` when given.
        local_files: a missing checkpoint or corpus is an error (False: ``validate``,
            see :func:`society.run.preflight.preflight`).

    Returns:
        The experiment and the base scenario.

    Raises:
        ConfigError: one line naming the file and field.
    """
    path = Path(path)
    origin = str(path)
    data = read_toml(path, "experiment")
    for table in [data.get("set"), *(data.get("conditions") or {}).values()]:
        if isinstance(table, dict):  # paths in [set] and conditions: from this file's folder
            resolve_paths(table, path.resolve().parent)
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
        preflight(scenario, where, local_files=local_files)
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


def summarise(series: pd.Series, hypothesis: Hypothesis, at: int) -> float:
    """One run's value: the metric at ``at``, or its slope or area over rounds up to ``at``.

    Args:
        series: the metric indexed by measured round.
        hypothesis: what to take (``over``, ``baseline``).
        at: the last round.
    """
    if hypothesis.over == "round":
        value = float(series[at])
        if hypothesis.baseline is not None:
            value -= float(series[hypothesis.baseline])
        return value
    start = hypothesis.baseline if hypothesis.baseline is not None else int(series.index.min())
    part = series[(series.index >= start) & (series.index <= at)].dropna()
    if len(part) < 2:
        return float("nan")
    rounds, y = part.index.to_numpy(dtype=float), part.to_numpy(dtype=float)
    if hypothesis.over == "slope":
        return float(np.polyfit(rounds, y, 1)[0])
    return float(np.trapezoid(y - float(series[start]), rounds))


def hypothesis_values(
    rounds: pd.DataFrame,
    hypothesis: Hypothesis,
    origin: str,
    factor: Factor | None = None,
) -> pd.DataFrame:
    """The value each run contributes (see :func:`summarise`).

    Returns:
        Columns ``condition``, ``seed``, ``round``, ``value`` and, with a factor, ``level``
        (the factor's value of the run's condition; NaN for other conditions).

    Raises:
        ConfigError: when the metric or a round is missing from the runs.
    """
    columns = ["condition", "seed", "round", "value"]
    if rounds.empty:
        return pd.DataFrame(columns=columns)
    if hypothesis.metric not in rounds:
        raise ConfigError(f"{origin}: metric {hypothesis.metric!r} is not in rounds.parquet")
    levels = {}
    if factor is not None:
        levels = {
            name: float(v) for name, v in zip(factor.conditions(), factor.values, strict=True)
        }
    rows = []
    for (condition, seed), run in rounds.groupby(["condition", "seed"], sort=True):
        series = run.set_index("round")[hypothesis.metric].astype(float)
        at = int(series.index.max()) if hypothesis.round == "final" else hypothesis.round
        for needed in (at, hypothesis.baseline):
            if needed is not None and needed not in series.index:
                raise ConfigError(
                    f"{origin}: round {needed} was not measured in {condition} seed {seed}"
                )
        row = {
            "condition": condition,
            "seed": seed,
            "round": at,
            "value": summarise(series, hypothesis, at),
        }
        if factor is not None:
            row["level"] = levels.get(condition, np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def control_ratios(rounds: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Each tested metric at its round as a ratio to the real-data control, seed by seed.

    Returns:
        Columns ``metric``, ``round``, ``condition``, ``seed``, ``value``, ``control``,
        ``ratio`` (empty without a control condition or runs).
    """
    columns = ["metric", "round", "condition", "seed", "value", "control", "ratio"]
    if rounds.empty or CONTROL not in set(rounds["condition"]):
        return pd.DataFrame(columns=columns)
    rows, seen = [], set()
    for hypothesis in experiment.hypotheses:
        key = (hypothesis.metric, hypothesis.round)
        if key in seen or hypothesis.metric not in rounds:
            continue
        seen.add(key)
        for seed, runs in rounds.groupby("seed", sort=True):
            by_condition = {
                c: r.set_index("round")[hypothesis.metric] for c, r in runs.groupby("condition")
            }
            control = by_condition.get(CONTROL)
            if control is None:
                continue
            for condition, series in by_condition.items():
                if condition == CONTROL:
                    continue
                at = int(series.index.max()) if hypothesis.round == "final" else hypothesis.round
                if at not in series.index or at not in control.index:
                    continue
                value, base = float(series[at]), float(control[at])
                ratio = value / base if base != 0 else np.nan
                rows.append([hypothesis.metric, at, condition, seed, value, base, ratio])
    return pd.DataFrame(rows, columns=columns)


def _trend_row(hypothesis: Hypothesis, table: pd.DataFrame, confidence: float, rng: int) -> dict:
    points = table[np.isfinite(table["level"]) & np.isfinite(table["value"])]
    _, _, alternative = hypothesis.sides
    result = trend(
        points["level"].to_numpy(dtype=float),
        points["value"].to_numpy(dtype=float),
        alternative,
        confidence=confidence,
        rng=rng,
    )
    return {"n_a": result.n, "n_b": 0, **result.as_dict()}


def evaluate_hypotheses(
    experiment: Experiment,
    rounds: pd.DataFrame,
    origin: str = "<experiment>",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Effect sizes, CIs, p-values and Holm-adjusted verdicts for every hypothesis.

    Two-condition hypotheses get a :class:`~analysis.stats.Comparison`; trend hypotheses a
    :class:`~analysis.stats.Trend` over every run of the factor's conditions. With a
    control, ``ratio_a`` / ``ratio_b`` are the mean per-seed ratios of the metric (at the
    tested round) to the control's.

    Returns:
        ``(results, values)``: one row per hypothesis, and one per (hypothesis, run).
    """
    ratios = control_ratios(rounds, experiment)
    results, values = [], []
    for i, hypothesis in enumerate(experiment.hypotheses):
        a, b, alternative = hypothesis.sides
        table = hypothesis_values(rounds, hypothesis, origin, experiment.factor)
        table.insert(0, "hypothesis", i)
        values.append(table)
        row: dict[str, Any] = {
            "hypothesis": i,
            "name": hypothesis.name or hypothesis.direction or f"{hypothesis.trend} trend",
            "metric": hypothesis.metric,
            "round": hypothesis.round if hypothesis.round == "final" else str(hypothesis.round),
            "baseline": hypothesis.baseline,
            "over": hypothesis.over,
            "tested": hypothesis.describe(),
            "a": a,
            "b": b,
            "direction": hypothesis.direction or f"{hypothesis.trend} in {experiment.factor.name}",
            "alternative": alternative,
            "test": "spearman" if hypothesis.trend else hypothesis.test,
            "alpha": hypothesis.alpha or experiment.alpha,
            "note": "",
        }
        if hypothesis.trend is not None:
            if not table.empty:
                row.update(_trend_row(hypothesis, table, experiment.confidence, STATS_SEED + i))
            else:
                row.update({"n_a": 0, "n_b": 0, "p_value": float("nan")})
            results.append(row)
            continue
        x = table.loc[table["condition"] == a, "value"].to_numpy(dtype=float)
        y = table.loc[table["condition"] == b, "value"].to_numpy(dtype=float)
        missing = int((~np.isfinite(x)).sum() + (~np.isfinite(y)).sum())
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
        if missing:
            row["note"] = f"{missing} runs without a value (NaN) left out"
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
        for side, name in (("ratio_a", a), ("ratio_b", b)):
            mine = ratios[(ratios["metric"] == hypothesis.metric) & (ratios["condition"] == name)]
            mine = mine[mine["round"] == table["round"].max()] if not table.empty else mine
            row[side] = float(mine["ratio"].mean()) if len(mine) else float("nan")
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
    controls = control_ratios(rounds, experiment)
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
        values=values,
        controls=controls,
    )
    atomic_write_text(out / layout.VERDICT, text)
    return results


def summary_rows(results: pd.DataFrame) -> list[tuple[str, ...]]:
    """Short table rows for the CLI: hypothesis, delta, mean difference, p, Holm p, verdict.

    A trend hypothesis shows Spearman's rho and the slope in the delta and difference columns.
    """
    rows = []
    for row in results.itertuples():
        trend_row = row.test == "spearman"
        delta = getattr(row, "spearman_rho" if trend_row else "cliffs_delta", np.nan)
        diff = getattr(row, "slope" if trend_row else "mean_difference", np.nan)
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
