"""``society bench`` at scale: n-gram rounds per phase, and a whole ``society run`` process.

Two items of :mod:`society.app.bench`:

* ``ngram``: a round of a default n-gram society (small-world graph, 4 neighbours each,
  ``utterances`` texts per agent) at each size, each size in a fresh child process, so its
  peak resident memory (``ru_maxrss`` of that child, from ``os.wait4``) is its own
  (see :data:`LAUNCHER`). Each
  child reports the round's wall seconds and ``Society.phase_seconds``: events, listen,
  curate, learn, speak, record and ``measure.<name>`` for every measure (``other_s`` is
  what no phase covers: the tables' collection, bookkeeping).
* ``whole_run``: the whole ``society run`` process of one scenario (default: the issue's
  1,000-agent round) timed in a subprocess, with its peak memory and CPU time, and the
  same scenario under a baseline interpreter and script (an older checkout) side by side,
  so a speed-up is a ratio measured in one sitting.

Run ``python -m society.app.bench_scale AGENTS UTTERANCES TEXTS ROUNDS OUT.json`` to measure
one size in this process (what the children do).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from society.config import Scenario

SIZES = (10, 100, 1000)
"""n-gram society sizes measured by default (``--agents 1000,10000`` for the large ones)."""
WHOLE_RUN_TARGET = 4.0
"""The issue's target: the 1,000-agent run at least 4x faster than the baseline checkout."""
SCALING_TARGET = 10.0
"""... and 10,000 agents at most 10x the time of 1,000 agents, within 4 GB."""
MEMORY_TARGET_GB = 4.0
WHOLE_RUN_SCENARIO = """# The issue's 1,000-agent round: small world, 100 utterances each.
name = "bench-1000"
seed = 0
rounds = 1
[network]
kind = "small_world"
agents = {agents}
k = 4
[real_data]
source = "kjv"
[speech]
utterances = 100
"""


def _peak_gb(kilobytes: int) -> float:
    """``ru_maxrss`` (kilobytes on Linux) in GB."""
    return kilobytes * 1024 / 1e9


def small_world(agents: int, utterances: int, texts: int, seed: int, **more: Any) -> Scenario:
    """The bench's n-gram society: a small world of ``agents`` (4 neighbours each), KJV.

    Args:
        agents: number of agents.
        utterances: texts each agent says.
        texts: real texts read from the KJV corpus.
        seed: scenario seed.
        **more: further flat keys (e.g. ``rounds``).
    """
    from society.config import Scenario

    return Scenario().with_overrides(
        {
            "seed": seed,
            "network.kind": "small_world",
            "network.agents": agents,
            "network.k": 4,
            "speech.utterances": utterances,
            "real_data.max_texts": texts,
            "tokenizer.vocab_size": 2000 if texts >= 2000 else 400,
            **more,
        }
    )


def ngram_phases(
    agents: int, utterances: int = 100, texts: int = 4000, rounds: int = 1, seed: int = 0
) -> dict[str, Any]:
    """Build a default n-gram society of ``agents`` and time its rounds, phase by phase.

    Args:
        agents: agents on a small-world graph (4 neighbours each).
        utterances: texts each agent says a round.
        texts: real KJV texts read (``real_data.max_texts``).
        rounds: rounds stepped (phases are means per round).
        seed: the scenario seed.

    Returns:
        ``agents``, ``build_s`` (construction with round 0), ``round_s`` (wall seconds per
        round), ``phases`` (seconds per round of each stage), ``other_s`` (``round_s`` less
        the phases) and ``peak_rss_gb`` (this process's peak so far).
    """
    from society.run.garbage import fewer_collections
    from society.sim.model import Society

    scenario = small_world(agents, utterances, texts, seed, rounds=rounds)
    with fewer_collections():  # as ``society run`` builds and steps
        start = time.perf_counter()
        society = Society(scenario)
        build = time.perf_counter() - start
        society.phase_seconds.clear()
        start = time.perf_counter()
        for _ in range(rounds):
            society.step()
        round_s = (time.perf_counter() - start) / rounds
        society.close()
    phases = {name: seconds / rounds for name, seconds in society.phase_seconds.items()}
    return {
        "agents": agents,
        "utterances": utterances,
        "rounds": rounds,
        "build_s": build,
        "round_s": round_s,
        "phases": phases,
        "other_s": round_s - sum(phases.values()),
        "peak_rss_gb": _peak_gb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
    }


def _environment() -> dict[str, str]:
    """The environment of this process, with this checkout of ``society`` first on the path."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


LAUNCHER = """
import json, os, subprocess, sys, time
out, timeout, command = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
page = os.sysconf("SC_PAGE_SIZE")
def tree_rss(root):
    pids, total = [root], 0
    while pids:
        pid = pids.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    pids += [int(child) for child in f.read().split()]
        except (OSError, ValueError):
            pass
    return total
start = time.perf_counter()
proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sys.stderr)
tree = 0
while True:
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid:
        break
    tree = max(tree, tree_rss(proc.pid))
    if 0 < timeout < time.perf_counter() - start:
        proc.kill()
        pid, status, usage = os.wait4(proc.pid, 0)
        break
    time.sleep(0.05)
proc.returncode = os.waitstatus_to_exitcode(status)
json.dump({"wall_s": time.perf_counter() - start, "cpu_s": usage.ru_utime + usage.ru_stime,
           "maxrss_kb": usage.ru_maxrss, "tree_bytes": tree, "exit": proc.returncode},
          open(out, "w"))
"""
"""Runs a command and writes its rusage and the peak of its process tree's summed resident
memory (sampled every 50 ms from ``/proc``: the command and its workers, such as the side
process). Linux keeps a process's peak memory through ``exec`` and starts a forked child's
from its parent's, so a child of this (big) process would report at least this process's
peak: the small launcher forks the command instead."""


def timed_process(
    command: list[str], env: dict[str, str] | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Run ``command`` to its end: wall seconds, CPU seconds and its own peak memory.

    The command is started by a small launcher interpreter (:data:`LAUNCHER`), so its
    ``ru_maxrss`` (by ``os.wait4``) is its own, not inherited from this process.

    Args:
        command: the program and its arguments.
        env: its environment (default: this one).
        timeout: seconds before it is killed (then ``exit`` is -9).

    Returns:
        ``wall_s``, ``cpu_s`` (user + system, of the command and the children it waited
        for), ``peak_rss_gb`` (the largest single process's peak), ``tree_peak_gb`` (the
        peak of the process tree's sum, sampled; 0 without ``/proc``), ``exit`` (its exit
        status) and ``stderr`` (its last 2,000 characters when it failed).
    """
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "usage.json"
        errors = Path(folder) / "stderr"
        launch = [sys.executable, "-c", LAUNCHER, str(out), str(timeout or 0), *command]
        with open(errors, "wb") as handle:
            subprocess.run(launch, env=env, stdout=subprocess.DEVNULL, stderr=handle, check=False)
        text = errors.read_text(errors="replace")[-2000:]
        if not out.exists():
            failed = {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_gb": 0.0, "tree_peak_gb": 0.0}
            return {**failed, "exit": -1, "stderr": text}
        usage = json.loads(out.read_text())
    return {
        "wall_s": usage["wall_s"],
        "cpu_s": usage["cpu_s"],
        "peak_rss_gb": _peak_gb(usage["maxrss_kb"]),
        "tree_peak_gb": usage["tree_bytes"] / 1e9,
        "exit": usage["exit"],
        **({"stderr": text} if usage["exit"] else {}),
    }


def ngram_scale(
    sizes: tuple[int, ...] = SIZES,
    utterances: int = 100,
    texts: int = 4000,
    rounds: int = 1,
    timeout: float | None = None,
) -> dict[str, Any]:
    """:func:`ngram_phases` at each size, each in a fresh child process.

    Returns:
        ``{"sizes": [...]}``: per size the child's result plus ``process`` (the child's
        wall and CPU seconds and peak memory, as :func:`timed_process`); with 1,000 and
        10,000 agents measured, ``scaling_10000_over_1000`` (round time ratio) and
        ``process_scaling_10000_over_1000`` (the children's whole processes: the target's).
    """
    out: list[dict[str, Any]] = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            result = Path(folder) / "result.json"
            args = [str(v) for v in (size, utterances, texts, rounds, result)]
            command = [sys.executable, "-m", "society.app.bench_scale", *args]
            process = timed_process(command, _environment(), timeout)
            row = json.loads(result.read_text()) if result.exists() else {"agents": size}
        row["process"] = process
        out.append(row)
    found = {row["agents"]: row for row in out if "round_s" in row}
    summary: dict[str, Any] = {"sizes": out}
    if 1000 in found and 10000 in found:
        summary["scaling_10000_over_1000"] = found[10000]["round_s"] / found[1000]["round_s"]
        big, small = found[10000]["process"], found[1000]["process"]
        summary["process_scaling_10000_over_1000"] = big["wall_s"] / small["wall_s"]
    return summary


def whole_run(
    scenario: Path | None = None,
    agents: int = 1000,
    baseline_python: str | None = None,
    baseline_script: str | None = None,
    timeout: float | None = None,
    pairs: int = 1,
    scale: int | None = None,
) -> dict[str, Any]:
    """The whole ``society run`` of ``scenario`` here, and under a baseline, side by side.

    With ``pairs`` > 1 the two runs alternate (ours, baseline, ours, ...) and each side is
    quoted by its median run, so a slow spell of a shared host moves the ratio less.

    Args:
        scenario: a scenario file (default: :data:`WHOLE_RUN_SCENARIO` with ``agents``).
        agents: agents of the default scenario.
        baseline_python: the baseline's interpreter (None: no baseline).
        baseline_script: run as ``baseline_python SCRIPT run ...`` (e.g. a shim putting an
            older checkout first on the path); None: ``baseline_python -m society run``.
        timeout: seconds each process may take.
        pairs: runs of each side (>= 1).
        scale: also time the default scenario with this many agents (ours, once) and its
            ratio to the same scenario with ``agents`` (the issue's 10x target, 10,000 /
            1,000).

    Returns:
        ``scenario``, ``ours`` (:func:`timed_process`, the median run), and with a baseline
        ``baseline`` (its median run) and ``speedup`` (baseline wall seconds / ours) and
        ``target``; with ``pairs`` > 1 also ``pairs``, each pair's wall seconds and
        ``pair_speedup`` (the median of the pairs' ratios); with ``scale``, ``scale``:
        ``agents``, ``base_agents``, ``run`` (:func:`timed_process`), ``base`` (the run it is
        compared with: ours when the scenario is the default) and ``ratio``.
    """
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, got {pairs}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        scenario_is_template = scenario is None
        if scenario is None:
            scenario = root / "scenario.toml"
            scenario.write_text(WHOLE_RUN_SCENARIO.format(agents=agents))
        run = ["run", str(scenario), "--out"]
        start = [baseline_script] if baseline_script else ["-m", "society"]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        ours_runs, base_runs = [], []
        for k in range(pairs):
            ours = [sys.executable, "-m", "society", *run, str(root / f"ours-{k}")]
            ours_runs.append(timed_process(ours, _environment(), timeout))
            if baseline_python is not None:
                command = [baseline_python, *start, *run, str(root / f"baseline-{k}")]
                base_runs.append(timed_process(command, env, timeout))
        out: dict[str, Any] = {"scenario": str(scenario), "ours": _median_run(ours_runs)}
        if baseline_python is not None:
            out["baseline"] = _median_run(base_runs)
            out["baseline"]["command"] = " ".join([baseline_python, *start])
            if out["ours"]["exit"] == 0 and out["baseline"]["exit"] == 0:
                out["speedup"] = out["baseline"]["wall_s"] / out["ours"]["wall_s"]
                out["cpu_speedup"] = out["baseline"]["cpu_s"] / out["ours"]["cpu_s"]
                out["target"] = WHOLE_RUN_TARGET
        if pairs > 1:
            out["pairs"] = [
                {"ours_s": a["wall_s"], **({"baseline_s": b["wall_s"]} if b else {})}
                for a, b in zip(ours_runs, base_runs or [None] * pairs, strict=True)
            ]
            if base_runs:
                ratios = [
                    b["wall_s"] / a["wall_s"] for a, b in zip(ours_runs, base_runs, strict=True)
                ]
                out["pair_speedup"] = statistics.median(ratios)
        if scale:
            base = out["ours"] if scenario_is_template else None
            out["scale"] = _scale_run(root, scale, agents, base, timeout)
    return out


def _scale_run(
    root: Path,
    agents: int,
    base_agents: int,
    base: dict[str, Any] | None,
    timeout: float | None,
) -> dict[str, Any]:
    """The default scenario's whole run with ``agents``, and its ratio to ``base_agents``'.

    ``base`` is that run when already measured (else it is run here, once).
    """
    runs = {}
    for size in (agents, base_agents) if base is None else (agents,):
        scenario = root / f"scenario-{size}.toml"
        scenario.write_text(WHOLE_RUN_SCENARIO.format(agents=size))
        command = [sys.executable, "-m", "society", "run", str(scenario), "--out"]
        runs[size] = timed_process([*command, str(root / f"scale-{size}")], _environment(), timeout)
    base = base if base is not None else runs[base_agents]
    run = runs[agents]
    ok = run["exit"] == 0 and base["exit"] == 0
    return {
        "agents": agents,
        "base_agents": base_agents,
        "run": run,
        "base": base,
        **({"ratio": run["wall_s"] / base["wall_s"]} if ok else {}),
        "target": SCALING_TARGET,
        "memory_target_gb": MEMORY_TARGET_GB,
    }


def peak_gb(process: dict[str, Any]) -> float:
    """A timed process's peak memory: its process tree's sum, or its largest process's."""
    return max(process["peak_rss_gb"], process.get("tree_peak_gb", 0.0))


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time (the lower one of an even count); a failed run if any."""
    failed = [r for r in runs if r["exit"] != 0]
    if failed:
        return failed[0]
    return sorted(runs, key=lambda r: r["wall_s"])[(len(runs) - 1) // 2]


def scale_rows(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Table rows of the two items: each size's round and memory, the whole runs."""
    rows: list[tuple[str, str, str, bool | None]] = []
    for row in results.get("ngram", {}).get("sizes", []):
        if "round_s" not in row:
            rows.append((f"n-gram round, {row['agents']} agents", "failed", "", None))
            continue
        peak = peak_gb(row["process"])
        big = row["agents"] >= 10000
        rows.append(
            (
                f"n-gram round, {row['agents']} agents",
                f"{row['round_s']:.2f} s (build {row['build_s']:.1f} s), peak {peak:.2f} GB",
                f"{MEMORY_TARGET_GB:g} GB" if big else "",
                (peak <= MEMORY_TARGET_GB) if big else None,
            )
        )
    scaling = results.get("ngram", {}).get("scaling_10000_over_1000")
    if scaling is not None:
        rows.append(
            (
                "n-gram round, 10,000 / 1,000 agents (round only)",
                f"{scaling:.1f}x",
                "",
                None,
            )
        )
    process = results.get("ngram", {}).get("process_scaling_10000_over_1000")
    if process is not None:
        rows.append(
            (
                "n-gram process (build + round), 10,000 / 1,000",
                f"{process:.1f}x",
                f"{SCALING_TARGET:g}x",
                process <= SCALING_TARGET,
            )
        )
    item = results.get("whole_run")
    if item:
        ours = item["ours"]
        text = f"{ours['wall_s']:.1f} s, peak {ours['peak_rss_gb']:.2f} GB"
        if "baseline" in item:
            base = item["baseline"]
            text += f" vs {base['wall_s']:.1f} s, peak {base['peak_rss_gb']:.2f} GB"
        if "speedup" in item:
            text += f" = {item['speedup']:.1f}x (CPU seconds {item['cpu_speedup']:.1f}x)"
        if "pairs" in item:
            text += f", medians of {len(item['pairs'])} alternating runs"
        if "pair_speedup" in item:
            text += f" (median pair {item['pair_speedup']:.1f}x)"
        met = item["speedup"] >= item["target"] if "speedup" in item else None
        target = f"{WHOLE_RUN_TARGET:g}x" if "baseline" in item else ""
        rows.append((f"whole society run: {Path(item['scenario']).name}", text, target, met))
    scale = (item or {}).get("scale")
    if scale:
        run, base = scale["run"], scale["base"]
        ratio = scale.get("ratio")
        rows.append(
            (
                f"whole society run, {scale['agents']:,} / {scale['base_agents']:,} agents",
                f"{run['wall_s']:.1f} s / {base['wall_s']:.1f} s = {ratio:.1f}x"
                if ratio
                else "failed",
                f"{SCALING_TARGET:g}x",
                None if ratio is None else ratio <= SCALING_TARGET,
            )
        )
        peak = peak_gb(run)
        rows.append(
            (
                f"whole society run, {scale['agents']:,} agents: peak memory (all processes)",
                f"{peak:.2f} GB (largest process {run['peak_rss_gb']:.2f} GB)",
                f"{MEMORY_TARGET_GB:g} GB",
                peak <= MEMORY_TARGET_GB,
            )
        )
    return rows


def phase_table(results: dict[str, Any]):  # noqa: ANN201 - rich.table.Table | None
    """Seconds per round of each phase (rows) at each size (columns); None without sizes."""
    from rich.table import Table

    sizes = [row for row in results.get("ngram", {}).get("sizes", []) if "phases" in row]
    if not sizes:
        return None
    table = Table(title="n-gram round by phase (wall seconds per round)")
    table.add_column("phase")
    for row in sizes:
        table.add_column(f"{row['agents']} agents", justify="right")
    names = list(dict.fromkeys(name for row in sizes for name in row["phases"]))
    for name in [*names, "other", "round"]:
        cells = []
        for row in sizes:
            value = {"other": row["other_s"], "round": row["round_s"]}.get(
                name, row["phases"].get(name, 0.0)
            )
            cells.append(f"{value:.3f}")
        table.add_row(name, *cells)
    return table


def main(argv: list[str]) -> None:
    """Measure one size in this process and write the JSON (a child of :func:`ngram_scale`)."""
    agents, utterances, texts, rounds, out = argv
    result = ngram_phases(int(agents), int(utterances), int(texts), int(rounds))
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
