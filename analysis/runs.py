"""Load finished (or partial) run directories into tidy pandas DataFrames.

This module reads the run directory only, by the names in ``society.run.layout`` (the one
module of ``society`` that ``analysis`` imports; it imports nothing itself). Every table
gains a ``run`` column (the directory name, made unique) and, for many runs, one column per
scenario parameter, named by its dotted path in ``config.toml`` (``real_data.fraction``,
``network.kind``, ...). List-valued parameters (``events``, schedules) become JSON strings
so that they can be grouped on. A run inside a sweep or experiment also carries each grid
key of its row in ``sweep.parquet`` as its own column (``events.1.bridges``,
``condition``), so ``rounds.groupby("events.1.bridges")`` works.
"""

from __future__ import annotations

import glob
import gzip
import json
import re
import tomllib
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from society.run import layout

TABLES = layout.TABLES
#: Columns of ``sweep.parquet`` that describe the run, not its grid cell.
INDEX_COLUMNS = frozenset({"path", "seed", "status", "error", "seconds", "previous"})
_ROUND = re.compile(r'\{"round": (\d+),')


class RunError(ValueError):
    """A path is not a readable run directory; the message names the path and the problem."""


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested TOML tables into dotted keys; lists become JSON strings.

    Args:
        config: a parsed ``config.toml``.
        prefix: prepended to every key (used in recursion).

    Returns:
        ``{"seed": 7, "network.kind": "ring", "events": "[...]", ...}``.
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value, sort_keys=True, default=str)
        else:
            out[name] = value
    return out


@dataclass
class Run:
    """One run directory, read.

    Attributes:
        path: the directory.
        name: a short unique name (the directory name).
        config: the resolved scenario (``config.toml``) as nested dicts.
        params: ``config`` flattened to dotted keys, plus the grid keys of the run's row
            in the ``sweep.parquet`` above it (if any).
        manifest: ``manifest.json`` (status, seed, rounds_done, versions, ...).
        events: ``events.json`` (events applied), empty if absent.
        rounds, agents, pairs, innovations, expressions: the ``metrics/*.parquet`` tables
            (empty DataFrames when a table was not written).
    """

    path: Path
    name: str
    config: dict[str, Any]
    params: dict[str, Any]
    manifest: dict[str, Any]
    events: list[Any]
    rounds: pd.DataFrame
    agents: pd.DataFrame
    pairs: pd.DataFrame
    innovations: pd.DataFrame
    expressions: pd.DataFrame

    def samples(self, rounds: Iterable[int] | None = None) -> pd.DataFrame:
        """What agents said (``samples.jsonl`` or ``.jsonl.gz``), optionally only some rounds.

        Args:
            rounds: keep only these rounds (``None``: all).

        Returns:
            One row per utterance with ``round``, ``agent``, ``text`` and whatever else the
            run logged (``heard``, ``kept``, ``ancestor_ppl``); empty if there is no file.
        """
        path = layout.samples(self.path)
        if not path.exists() or path.stat().st_size == 0:
            return pd.DataFrame(columns=["round", "agent", "text"])
        if rounds is None:
            try:
                return pd.read_json(path, lines=True, dtype=False, compression="infer")
            except (ValueError, EOFError, OSError):  # a torn last line or member, a bad line
                pass
        wanted = None if rounds is None else {int(r) for r in rounds}
        rows = read_samples(path, wanted)
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["round", "agent", "text"])


def read_samples(path: Path, wanted: set[int] | None = None) -> list[dict[str, Any]]:
    """The rows of ``samples.jsonl`` or ``samples.jsonl.gz`` (of ``wanted`` rounds), by line.

    A last line without its newline (a torn last gzip member) is what a run cut off
    mid-write leaves: it is skipped with a warning. Any other line that is not JSON is an
    error.

    Raises:
        RunError: a line other than the last is not JSON.
    """
    rows = []
    for number, line in enumerate(_lines(path), start=1):
        match = _ROUND.match(line)  # skip unwanted rounds without parsing the line
        if wanted is not None and match and int(match.group(1)) not in wanted:
            continue
        try:
            row = json.loads(line)
        except ValueError:
            if not line.endswith("\n"):
                warnings.warn(
                    f"{path}: line {number} is cut off (the run stopped mid-write); ignored",
                    stacklevel=2,
                )
                break
            raise RunError(f"{path}: line {number} is not JSON") from None
        if wanted is None or int(row["round"]) in wanted:
            rows.append(row)
    return rows


def _lines(path: Path) -> Iterable[str]:
    """The lines of a plain or gzip text file; a torn gzip member ends them, with a warning."""
    if not str(path).endswith(layout.GZIP):
        with open(path, encoding="utf-8", errors="replace") as handle:
            yield from handle
        return
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        try:
            yield from handle
        except (EOFError, gzip.BadGzipFile):
            warnings.warn(
                f"{path}: the last round is cut off (the run stopped mid-write); ignored",
                stacklevel=3,
            )


def leading_comment(path: Path) -> str:
    """The comment block at the top of a TOML file: its question and expected result."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return "\n".join(lines).strip()


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise RunError(f"{path}: cannot read table: {error}") from None


def grid_values(path: Path, levels: int = 8) -> dict[str, Any]:
    """The grid keys of a run from the nearest ``sweep.parquet`` above it (``{}`` if none).

    Args:
        path: the run directory.
        levels: how many parent directories to search.

    Raises:
        RunError: if the index exists but cannot be read.
    """
    resolved = Path(path).resolve()
    for parent in list(resolved.parents)[:levels]:
        index = parent / layout.SWEEP_INDEX
        if not index.is_file():
            continue
        relative = resolved.relative_to(parent).as_posix()
        table = _read_table(index)
        if "path" not in table:
            return {}
        rows = table[table["path"].astype(str) == relative]
        if rows.empty:
            return {}
        row = rows.iloc[-1]
        return {k: row[k] for k in table.columns if k not in INDEX_COLUMNS and pd.notna(row[k])}
    return {}


def load_run(path: str | Path, name: str | None = None) -> Run:
    """Read one run directory.

    Args:
        path: the run directory (it must hold ``config.toml``).
        name: the run's name in tables (default: the directory name).

    Returns:
        The :class:`Run`.

    Raises:
        RunError: if the directory or its ``config.toml`` is missing or unreadable.
    """
    path = Path(path)
    config_path = path / layout.CONFIG
    if not path.is_dir():
        raise RunError(f"{path}: not a run directory (no such directory)")
    if not config_path.exists():
        raise RunError(f"{path}: not a run directory (no config.toml)")
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise RunError(f"{config_path}: {error}") from None
    manifest_path, events_path = path / layout.MANIFEST, path / layout.EVENTS
    try:
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        events = json.loads(events_path.read_text()) if events_path.exists() else []
    except json.JSONDecodeError as error:
        raise RunError(f"{path}: bad JSON: {error}") from None
    name = name or path.resolve().name
    tables = {t: _read_table(layout.table(path, t)) for t in TABLES}
    for frame in tables.values():
        if not frame.empty:
            frame.insert(0, "run", name)
    return Run(
        path=path,
        name=name,
        config=config,
        params={**flatten(config), **grid_values(path)},
        manifest=manifest,
        events=events,
        **tables,
    )


@dataclass
class RunSet:
    """Many runs, with their tables stacked.

    Attributes:
        runs: the runs, in the order given.
        params: one row per run: ``run`` plus one column per scenario parameter.
        varying: the parameters whose value differs between runs.
        rounds, agents, pairs, innovations, expressions: every run's table stacked, with
            ``run`` and one column per *varying* parameter (plus ``seed``) appended.
    """

    runs: list[Run]
    params: pd.DataFrame
    varying: list[str] = field(default_factory=list)
    rounds: pd.DataFrame = field(default_factory=pd.DataFrame)
    agents: pd.DataFrame = field(default_factory=pd.DataFrame)
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    innovations: pd.DataFrame = field(default_factory=pd.DataFrame)
    expressions: pd.DataFrame = field(default_factory=pd.DataFrame)


def expand(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Turn a path, a glob pattern, or a list of either into run directories.

    A directory that is not itself a run but holds runs (e.g. a sweep's output folder)
    expands to the run directories inside it, sorted.

    Raises:
        RunError: if nothing matches.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    out: list[Path] = []
    for item in items:
        matches = sorted(glob.glob(str(item))) if glob.has_magic(str(item)) else [str(item)]
        if not matches:
            raise RunError(f"{item}: no run directory matches")
        for match in matches:
            path = Path(match)
            if path.is_dir() and not layout.is_run(path):
                inner = sorted(p.parent for p in path.glob(f"**/{layout.CONFIG}"))
                out.extend(inner or [path])
            else:
                out.append(path)
    return out


def _unique_names(paths: list[Path]) -> list[str]:
    names = [p.resolve().name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]


def load_runs(paths: str | Path | Sequence[str | Path]) -> RunSet:
    """Read many run directories into stacked tidy tables.

    Args:
        paths: run directories, glob patterns (``"runs/sweep-*"``), folders holding runs,
            or a list of these.

    Returns:
        The :class:`RunSet`; each stacked table has ``run`` and one column per parameter
        that varies between runs (and always ``seed``), so ``rounds.groupby(varying)``
        compares conditions.

    Raises:
        RunError: if a path is not a readable run directory or nothing matches.
    """
    found = expand(paths)
    runs = [load_run(p, n) for p, n in zip(found, _unique_names(found), strict=True)]
    params = pd.DataFrame([{"run": r.name, **r.params} for r in runs])
    varying = [c for c in params.columns if c != "run" and params[c].astype(str).nunique() > 1]
    attach = list(dict.fromkeys([*varying, *(["seed"] if "seed" in params else [])]))
    stacked: dict[str, pd.DataFrame] = {}
    for table in TABLES:
        frames = [getattr(r, table) for r in runs if not getattr(r, table).empty]
        if not frames:
            stacked[table] = pd.DataFrame()
            continue
        frame = pd.concat(frames, ignore_index=True)
        stacked[table] = frame.merge(params[["run", *attach]], on="run", how="left")
    return RunSet(runs=runs, params=params, varying=varying, **stacked)
