"""Sweeps: one scenario over a grid of parameter values x seeds, one run directory each.

A sweep directory holds ``runs/<key>=<value>/.../seed=<n>/`` (ordinary run directories,
named from their parameters, Hive style) and ``sweep.parquet``, one row per run: the cell's
parameters, the seed, ``path`` (relative to the sweep directory), ``status`` (done | failed
| pending), ``error``, ``seconds`` and ``previous`` (what the run directory held before this
invocation: empty for a new run, ``done`` for a run skipped, ``failed``/``running``/``broken``
for one resumed from its resume state (``run.state``) when it has one of the same scenario,
else rerun into a clean directory).

Runs execute behind a :class:`concurrent.futures.Executor`: a local process pool by default,
or a dask.distributed cluster (``Client(address).get_executor()``). Every run is fixed by
its scenario and seed, so any executor gives the same numbers.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import socket
import threading
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from society.config import ConfigError, Scenario, parse_override, validate_scenario
from society.run import layout
from society.run.preflight import preflight
from society.run.store import atomic_write_parquet

COLUMNS = ("path", "seed", "status", "error", "seconds", "previous")


@dataclass(frozen=True)
class Cell:
    """One condition of a sweep.

    Attributes:
        labels: what names the cell (columns of ``sweep.parquet``, parts of the run path).
        overrides: dotted-path overrides of the base scenario.
    """

    labels: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs for one run; plain data, so any executor can ship it."""

    path: str
    root: str
    labels: dict[str, Any]
    seed: int
    scenario: dict[str, Any]
    origin: str

    @property
    def directory(self) -> Path:
        """The run directory."""
        return Path(self.root) / self.path


_RANGE = re.compile(r"^\s*(-?[\d.eE+-]+):(-?[\d.eE+-]+):([\d.eE+-]+)\s*$")


def parse_range(text: str, option: str = "--grid") -> list[int | float] | None:
    """``start:stop:step`` as its values, ``stop`` included; ``None`` if not a range.

    Integers stay integers; floats are rounded to 10 decimals (``0:0.3:0.1`` gives
    ``0.0, 0.1, 0.2, 0.3``, not ``0.30000000000000004``).

    Raises:
        ConfigError: on a step that is not positive or a stop below the start.
    """
    match = _RANGE.match(text)
    if not match:
        return None
    try:
        parts = [tomllib.loads(f"v = {p}")["v"] for p in match.groups()]
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"{option} {text}: start:stop:step must be numbers") from None
    start, stop, step = parts
    if step <= 0 or stop < start:
        raise ConfigError(f"{option} {text}: need step > 0 and stop >= start")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if all(isinstance(p, int) for p in parts):
        return [start + i * step for i in range(count)]
    return [round(start + i * step, 10) for i in range(count)]


def parse_values(key: str, raw: str, option: str = "--grid") -> list[Any]:
    """``v1,v2,start:stop:step,...``: each part read as TOML (else a string) or a range."""
    values: list[Any] = []
    for part in raw.split(","):
        expanded = parse_range(part, f"{option} {key}=")
        values.extend(expanded if expanded is not None else [parse_override(f"{key}={part}")[1]])
    return values


def _key_values(text: str, option: str) -> tuple[str, str]:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise ConfigError(f"{option} {text}: expected key.path=value1,value2")
    return key, raw


def parse_grid(texts: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``--grid key.path=v1,v2`` options; values are TOML (else strings) or ranges.

    ``--grid real_data.fraction=0:0.2:0.05`` is ``0, 0.05, 0.1, 0.15, 0.2`` (stop
    included); ranges and single values mix: ``--grid rounds=5,10:30:10``.

    Raises:
        ConfigError: on a malformed option or a key given twice.
    """
    grid: dict[str, list[Any]] = {}
    for text in texts:
        key, raw = _key_values(text, "--grid")
        if key == "seed":
            raise ConfigError("--grid seed: seeds are not a grid key; use --seeds N (--set seed=S)")
        if key in grid:
            raise ConfigError(f"--grid {key}: given twice")
        grid[key] = parse_values(key, raw)
    return grid


def parse_links(texts: Sequence[str]) -> list[dict[str, list[Any]]]:
    """Parse ``--link "a=1,2,3 b=x,y,z"`` options: the keys of one option vary together.

    Each option is one group of space-separated ``key=values`` with the same number of
    values; the group's i-th cell takes every key's i-th value. Groups are crossed with
    the grid and with each other.

    Raises:
        ConfigError: on a malformed group, a key given twice, or lengths that differ.
    """
    groups: list[dict[str, list[Any]]] = []
    seen: set[str] = set()
    for text in texts:
        group: dict[str, list[Any]] = {}
        for item in text.split():
            key, raw = _key_values(item, "--link")
            if key in seen:
                raise ConfigError(f"--link {key}: given twice")
            seen.add(key)
            group[key] = parse_values(key, raw, "--link")
        lengths = {k: len(v) for k, v in group.items()}
        if not group or len(set(lengths.values())) != 1:
            raise ConfigError(f"--link {text}: every key needs as many values ({lengths})")
        groups.append(group)
    return groups


def grid_cells(
    grid: dict[str, list[Any]], links: Sequence[dict[str, list[Any]]] = ()
) -> list[Cell]:
    """Every combination of the grid's values and of the linked groups' positions.

    Args:
        grid: key -> values, crossed with each other.
        links: groups of keys that vary together (see :func:`parse_links`).

    Returns:
        One cell per combination (one cell with no labels when both are empty).

    Raises:
        ConfigError: when a key is both in the grid and linked.
    """
    both = set(grid) & {k for group in links for k in group}
    if both:
        raise ConfigError(f"--grid/--link {sorted(both)[0]}: given twice")
    axes: list[list[dict[str, Any]]] = [[{k: v} for v in grid[k]] for k in grid]
    for group in links:
        size = len(next(iter(group.values())))
        axes.append([{k: values[i] for k, values in group.items()} for i in range(size)])
    cells = []
    for combo in itertools.product(*axes):
        labels = {k: v for part in combo for k, v in part.items()}
        cells.append(Cell(labels, dict(labels)))
    return cells


def _slug(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return re.sub(r"[^A-Za-z0-9_.,+-]+", "-", text).strip("-") or "-"


def run_path(labels: dict[str, Any], seed: int) -> str:
    """``runs/<key>=<value>/.../seed=<seed>`` (POSIX separators)."""
    parts = [
        layout.SWEEP_RUNS,
        *(f"{_slug(k)}={_slug(v)}" for k, v in labels.items()),
        f"seed={seed}",
    ]
    return "/".join(parts)


def seed_list(base: int, seeds: int | Sequence[int]) -> list[int]:
    """``seeds`` as given, or ``base, base + 1, ...`` when a count."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"--seeds {seeds}: need at least one seed")
        return [base + i for i in range(seeds)]
    out = [int(s) for s in seeds]
    if not out or len(set(out)) != len(out):
        raise ConfigError(f"seeds {out}: need distinct seeds")
    return out


def plan(
    scenario: Scenario,
    cells: Iterable[Cell],
    seeds: int | Sequence[int],
    out: Path,
    origin: str = "<scenario>",
) -> list[RunSpec]:
    """One :class:`RunSpec` per (cell, seed); every cell's scenario is validated first.

    Raises:
        ConfigError: when a cell's overrides do not make a valid scenario.
    """
    specs: list[RunSpec] = []
    root = str(Path(out).resolve())
    for cell in cells:
        name = ", ".join(f"{k}={v}" for k, v in cell.labels.items()) or "base"
        config = scenario.with_overrides(cell.overrides, origin=f"{origin} ({name})")
        preflight(config, f"{origin} ({name})")  # events, graph, corpus: before any run
        for seed in seed_list(scenario.seed, seeds):
            data = config.model_dump(mode="json", exclude_none=True) | {"seed": seed}
            path = run_path(cell.labels, seed)
            specs.append(RunSpec(path, root, dict(cell.labels), seed, data, origin))
    paths = [s.path for s in specs]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"{origin}: two cells map to the same run directory; rename values")
    return specs


def previous_status(spec: RunSpec) -> str:
    """What the run directory holds: '' (nothing), done, failed, running or broken.

    Raises:
        ConfigError: when a finished run of a *different* scenario sits at this path.
    """
    directory = spec.directory
    if not directory.exists():
        return ""
    try:
        status = json.loads((directory / layout.MANIFEST).read_text())["status"]
    except (OSError, ValueError, KeyError):
        return "broken"
    if status == layout.DONE:
        expected = validate_scenario(spec.scenario, spec.origin).to_toml()
        if (directory / layout.CONFIG).read_text(encoding="utf-8") != expected:
            raise ConfigError(
                f"{directory}: holds a finished run of a different scenario; use a new --out"
            )
    return str(status)


def _one_line(error: BaseException) -> str:
    return traceback.format_exception_only(error)[-1].strip()


def resumable(directory: Path, scenario: Scenario) -> bool:
    """Whether ``directory`` holds an unfinished run of ``scenario`` with a resume state."""
    try:
        status = json.loads((directory / layout.MANIFEST).read_text())["status"]
        config = (directory / layout.CONFIG).read_text(encoding="utf-8")
    except (OSError, ValueError, KeyError):
        return False
    return (
        status in (layout.FAILED, layout.RUNNING)
        and (directory / layout.STATE).is_file()
        and config == scenario.to_toml()
    )


def _resumed(resume: Callable[[Path], Any], directory: Path) -> bool:
    """Resume the run in ``directory``; False (run it again) if it cannot be resumed."""
    try:
        resume(directory)
    except ConfigError:  # e.g. still running elsewhere, or its state no longer fits
        return False
    return True


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run one scenario; never raises (failures are returned).

    An unfinished run of the same scenario that left a resume state is resumed from it
    (``run.runner.resume_run``: the same tables as a run never stopped); anything else in
    the directory is removed and the run starts again.

    Top level so that process pools and dask workers can import it.
    """
    from society.run.runner import resume_run, run_scenario

    directory = spec.directory
    started = time.perf_counter()
    if ORPHANED.is_set():  # a queued run of a sweep that is gone
        os._exit(1)
    try:
        scenario = validate_scenario(spec.scenario, spec.origin)
        if not (resumable(directory, scenario) and _resumed(resume_run, directory)):
            if directory.exists():
                shutil.rmtree(directory)
            run_scenario(scenario, directory, origin=spec.origin)
        status, error = layout.DONE, ""
    except Exception as exc:  # one failed run never stops the others
        if ORPHANED.is_set():
            os._exit(1)
        status, error = layout.FAILED, _one_line(exc)
    return {
        "path": spec.path,
        "status": status,
        "error": error,
        "seconds": time.perf_counter() - started,
    }


@contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[Executor]:
    """A local spawn process pool, or the executor of a dask.distributed scheduler.

    Args:
        workers: processes of the local pool (default: CPU count).
        scheduler: address of a running dask scheduler, e.g. ``tcp://10.0.0.1:8786``.

    Raises:
        ConfigError: when the scheduler cannot be reached.
    """
    if scheduler:
        from dask.distributed import Client

        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as error:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({error})") from None
        try:
            with client.get_executor() as executor:
                yield executor
        finally:
            client.close()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=watch_parent,
        initargs=(os.getpid(),),
    ) as pool:
        yield pool


#: Seconds between a worker's checks that its sweep is alive, and its grace to stop.
PARENT_POLL, STOP_GRACE = 0.5, 5.0


ORPHANED = threading.Event()


def watch_parent(parent: int) -> None:
    """Make a pool worker die with its sweep (a worker initializer).

    A thread polls the parent; when the parent is gone (killed, even by SIGKILL), the worker
    sends itself SIGTERM, so a run in progress stops at a safe point and is marked failed,
    and it exits outright after ``STOP_GRACE`` seconds whatever it was doing.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        ORPHANED.set()  # start no other run
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(STOP_GRACE)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/sweep.lock`` (pid and host) while a sweep runs in ``out``.

    Raises:
        ConfigError: another live sweep on this host holds the lock.
    """
    lock = Path(out) / layout.SWEEP_LOCK
    mine = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text())
            except (OSError, ValueError):
                holder = {}
            pid = holder.get("pid")
            if holder.get("host") == mine["host"] and isinstance(pid, int) and _alive(pid):
                raise ConfigError(
                    f"{out}: another sweep (pid {pid}) is running here; wait for it or stop it"
                ) from None
            if holder.get("host") not in (None, mine["host"]):
                raise ConfigError(
                    f"{out}: locked by a sweep on {holder['host']} (pid {pid}); "
                    f"remove {lock} if it is gone"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its sweep is gone
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(mine))
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


Runner = Callable[[RunSpec], dict[str, Any]]
OnResult = Callable[[dict[str, Any]], None]


def _failed(spec: RunSpec, error: str) -> dict[str, Any]:
    return {"path": spec.path, "status": layout.FAILED, "error": error, "seconds": float("nan")}


def _execute(
    specs: list[RunSpec],
    executor: Executor,
    runner: Runner,
    record: OnResult,
) -> list[RunSpec]:
    """Run ``specs``; return those lost with a broken pool (a worker process died)."""
    broken: list[RunSpec] = []
    futures = {executor.submit(runner, spec): spec for spec in specs}
    for future in as_completed(futures):
        spec = futures[future]
        try:
            result = future.result()
        except BrokenExecutor:
            broken.append(spec)
            continue
        except Exception as error:  # lost worker, cluster error: this run fails, others go on
            result = _failed(spec, _one_line(error))
        record(result)
    return broken


class Sweep:
    """The index of a sweep directory, written after every finished run.

    Rows of an earlier ``sweep.parquet`` for runs outside this plan (other seeds, other
    grid values) are kept in the file, so a directory can grow sweep by sweep.
    """

    def __init__(self, out: Path, specs: list[RunSpec]) -> None:
        self.out = Path(out)
        label_keys = list(dict.fromkeys(k for s in specs for k in s.labels))
        rows = [{**s.labels, "path": s.path, "seed": s.seed} for s in specs]
        self.table = pd.DataFrame(rows, columns=[*label_keys, "path", "seed"])
        self.table["status"] = "pending"
        self.table["error"] = ""
        self.table["seconds"] = float("nan")
        self.table["previous"] = ""
        self.table = self.table.set_index("path", drop=False)
        self.others = pd.DataFrame()
        self.seconds: dict[str, float] = {}
        self.status: dict[str, str] = {}
        if (self.out / layout.SWEEP_INDEX).exists():
            old = pd.read_parquet(self.out / layout.SWEEP_INDEX)
            self.others = old[~old["path"].isin(self.table.index)]
            self.seconds = dict(zip(old["path"], old["seconds"], strict=True))
            self.status = dict(zip(old["path"], old["status"], strict=True))

    def record(self, result: dict[str, Any]) -> None:
        """Store one run's outcome and rewrite ``sweep.parquet``."""
        for key in ("status", "error", "seconds"):
            self.table.loc[result["path"], key] = result[key]
        self.write()

    def write(self) -> None:
        """Atomically write ``sweep.parquet``."""
        table = pd.concat([self.table.reset_index(drop=True), self.others], ignore_index=True)
        for column in table.columns:
            if table[column].map(type).nunique() > 1:
                table[column] = table[column].astype(str)
        atomic_write_parquet(self.out / layout.SWEEP_INDEX, table)


def run_sweep(
    specs: list[RunSpec],
    out: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_result: OnResult | None = None,
    runner: Runner = run_one,
) -> pd.DataFrame:
    """Run every spec not already done; write and return the sweep index.

    Finished runs (manifest status ``done``, same scenario) are skipped; failed or partial
    ones are rerun into a clean directory. If a local worker process dies, the runs it
    took down are retried one at a time in fresh processes, so only the culprit fails.

    Args:
        specs: from :func:`plan`.
        out: the sweep directory.
        workers: local pool size (default: CPU count, at most the number of runs).
        scheduler: dask scheduler address; runs there instead of a local pool.
        executor: any ``concurrent.futures.Executor`` to use as is (not shut down).
        on_start: called with (runs to do, runs skipped) before the first run starts.
        on_result: called with each finished run's row (progress bars).
        runner: the per-run function (top-level, importable by workers).

    Returns:
        The index: one row per run (see the module docstring).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with sweep_lock(out):
        return _run_locked(specs, out, workers, scheduler, executor, on_start, on_result, runner)


def _run_locked(
    specs: list[RunSpec],
    out: Path,
    workers: int | None,
    scheduler: str | None,
    executor: Executor | None,
    on_start: Callable[[int, int], None] | None,
    on_result: OnResult | None,
    runner: Runner,
) -> pd.DataFrame:
    sweep = Sweep(out, specs)
    pending = []
    for spec in specs:
        previous = previous_status(spec)
        if not previous and sweep.status.get(spec.path) == layout.FAILED:
            previous = layout.FAILED  # failed before writing its directory (e.g. a missing corpus)
        sweep.table.loc[spec.path, "previous"] = previous
        if previous == layout.DONE:
            sweep.table.loc[spec.path, "status"] = layout.DONE
            sweep.table.loc[spec.path, "seconds"] = sweep.seconds.get(spec.path, float("nan"))
        else:
            pending.append(spec)
    sweep.write()
    if on_start:
        on_start(len(pending), len(specs) - len(pending))

    def record(result: dict[str, Any]) -> None:
        sweep.record(result)
        if on_result:
            on_result(sweep.table.loc[result["path"]].to_dict())

    if pending and executor is not None:
        for spec in _execute(pending, executor, runner, record):
            record(_failed(spec, "executor broken before the run finished"))
    elif pending:
        size = min(workers or os.cpu_count() or 1, len(pending))
        with open_executor(size, scheduler) as pool:
            broken = _execute(pending, pool, runner, record)
        for spec in broken:  # isolate: one fresh process per run
            with open_executor(1) as alone:
                if _execute([spec], alone, runner, record):
                    record(_failed(spec, "worker process died during the run"))
    return sweep.table.reset_index(drop=True)
