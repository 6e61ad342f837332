"""The run directory's layout: the name of every file and folder, in one place.

The run directory is the contract between the simulation, which writes it
(``society.run.store``, ``runner``, ``checkpoints``; sweeps and experiments in
``society.app``), and ``analysis``, which reads it. Both take every name from here. This
module imports nothing from ``society``, so ``analysis`` can import it without importing
the simulation (``tests/test_imports.py`` checks both)::

    RUN/
      config.toml                 CONFIG            the fully resolved scenario
      manifest.json               MANIFEST          versions, seed, start/end, status, rounds_done
      tokenizer.json              TOKENIZER         the shared tokenizer (Hugging Face format)
      events.json                 EVENTS            the events applied, with what they did
      metrics/<table>.parquet     table(RUN, name)  name in TABLES
      samples.jsonl               SAMPLES           every utterance, one JSON object per line
      samples.jsonl.gz            samples(RUN)      the same, gzip (one member per round), instead
      network.json                NETWORK           the latest graph (node-link JSON)
      network_initial.json        NETWORK_INITIAL   the first graph
      checkpoints/                CHECKPOINTS
        ancestor.safetensors      ancestor_checkpoint(RUN)       generation 0
        round-<R>/agents.safetensors.gz   population_checkpoint(RUN, R)  every n-gram agent
        round-<R>/agent-<ID>.safetensors  agent_checkpoint(RUN, R, ID)   any other agent
      report.html                 REPORT            written by ``society report``
      state.pkl.gz                STATE             resume state after the last saved round
                                                    (removed when the run ends ``done``)

A sweep directory (``society sweep``; an experiment is a sweep plus its verdict)::

    OUT/
      sweep.parquet               SWEEP_INDEX       one row per run
      sweep.lock                  SWEEP_LOCK        pid and host of the live sweep (then removed)
      runs/<key>=<value>/.../seed=<n>/  SWEEP_RUNS  ordinary run directories
      experiment.toml             EXPERIMENT        a copy of the experiment file
      results.parquet             RESULTS           one row per hypothesis
      values.parquet              VALUES            the value each run contributed
      figure.png                  FIGURE
      verdict.md                  VERDICT
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIG = "config.toml"
MANIFEST = "manifest.json"
TOKENIZER = "tokenizer.json"
EVENTS = "events.json"
METRICS = "metrics"
TABLES = ("rounds", "agents", "pairs", "innovations", "expressions")
SAMPLES = "samples.jsonl"
GZIP = ".gz"
"""Suffix of a gzip-compressed ``SAMPLES`` (``samples.jsonl.gz``, big societies)."""
NETWORK = "network.json"
NETWORK_INITIAL = "network_initial.json"
CHECKPOINTS = "checkpoints"
ANCESTOR = "ancestor.safetensors"
POPULATION = "agents.safetensors.gz"
REPORT = "report.html"
STATE = "state.pkl.gz"

#: ``manifest.json``'s ``status``: written ``running``, ended ``done`` or ``failed``; the sweep
#: index's ``status`` column uses the last two (and ``pending``).
RUNNING, DONE, FAILED = "running", "done", "failed"

SWEEP_INDEX = "sweep.parquet"
SWEEP_LOCK = "sweep.lock"
SWEEP_RUNS = "runs"
EXPERIMENT = "experiment.toml"
RESULTS = "results.parquet"
VALUES = "values.parquet"
FIGURE = "figure.png"
VERDICT = "verdict.md"

_ROUND_DIR = re.compile(r"round-(\d+)$")
_AGENT_FILE = re.compile(r"agent-(\d+)\.safetensors$")


def table(run: Path | str, name: str) -> Path:
    """``RUN/metrics/<name>.parquet``.

    Raises:
        ValueError: ``name`` is not one of ``TABLES``.
    """
    if name not in TABLES:
        raise ValueError(f"no table {name!r} in a run directory (tables: {', '.join(TABLES)})")
    return Path(run) / METRICS / f"{name}.parquet"


def samples(run: Path | str, compressed: bool | None = None) -> Path:
    """``RUN/samples.jsonl`` or ``RUN/samples.jsonl.gz``.

    Args:
        run: the run directory.
        compressed: which of the two (None: the one the run holds, the gzip one if both).
    """
    plain, packed = Path(run) / SAMPLES, Path(run) / f"{SAMPLES}{GZIP}"
    if compressed is None:
        return packed if packed.exists() else plain
    return packed if compressed else plain


def is_run(path: Path | str) -> bool:
    """Whether ``path`` is a run directory (it holds ``config.toml``)."""
    return (Path(path) / CONFIG).is_file()


def checkpoints(run: Path | str) -> Path:
    """``RUN/checkpoints``."""
    return Path(run) / CHECKPOINTS


def ancestor_checkpoint(run: Path | str) -> Path:
    """``RUN/checkpoints/ancestor.safetensors``: generation 0."""
    return checkpoints(run) / ANCESTOR


def round_dir(run: Path | str, round_: int) -> Path:
    """``RUN/checkpoints/round-<R>``: every agent after round ``R``."""
    return checkpoints(run) / f"round-{round_}"


def agent_checkpoint(run: Path | str, round_: int, agent: int) -> Path:
    """``RUN/checkpoints/round-<R>/agent-<ID>.safetensors``."""
    return round_dir(run, round_) / f"agent-{agent}.safetensors"


def population_checkpoint(run: Path | str, round_: int) -> Path:
    """``RUN/checkpoints/round-<R>/agents.safetensors.gz``: every n-gram agent, packed."""
    return round_dir(run, round_) / POPULATION


def checkpoint_round(name: str) -> int | None:
    """The round of a ``round-<R>`` folder name (None for any other name)."""
    match = _ROUND_DIR.match(name)
    return int(match.group(1)) if match else None


def checkpoint_agent(name: str) -> int | None:
    """The agent id of an ``agent-<ID>.safetensors`` file name (None for any other name)."""
    match = _AGENT_FILE.match(name)
    return int(match.group(1)) if match else None
