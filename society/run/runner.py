"""Run a scenario into a run directory: build the Society, step it, stream rounds to disk."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from society.config import ConfigError, Scenario
from society.corpora import CorpusError
from society.lm.errors import ModelError
from society.run import layout
from society.run.checkpoints import checkpoint_if_due
from society.run.store import RunStore, now
from society.sim.curation import LabelsError
from society.sim.events import EventError
from society.sim.model import Society
from society.sim.network import GraphError

Progress = Callable[[Society], None]


def default_out(scenario: Scenario, root: Path = Path("runs")) -> Path:
    """``runs/<scenario-name>-<timestamp>``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario.name).strip("-") or "run"
    return root / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def build_society(scenario: Scenario, origin: str = "<scenario>") -> Society:
    """Build the Society, turning bad data or graph input into a one-line ConfigError."""
    try:
        return Society(scenario)
    except CorpusError as error:
        field = getattr(error, "field", "real_data.source")  # or real_data.communities.N
        raise ConfigError(f"{origin}: {field}: {error}") from None
    except GraphError as error:
        field = "network.path" if scenario.network.kind == "file" else "network"
        raise ConfigError(f"{origin}: {field}: {error}") from None
    except LabelsError as error:
        raise ConfigError(f"{origin}: curation.labels: {error}") from None
    except ModelError as error:
        raise ConfigError(f"{origin}: language_model: {error}") from None


def check_out(out: Path) -> None:
    """Refuse to write into an existing, non-empty directory."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: run directory already exists and is not empty")


def write_round(store: RunStore, society: Society) -> None:
    """Stream the society's tables and new samples to the run directory."""
    store.write_tables(
        {
            "rounds": society.round_table(),
            "agents": society.agent_table(),
            "pairs": society.pair_table(),
            **society.measures.tables(),  # side tables: innovations, expressions
        }
    )
    if society.scenario.metrics.samples:
        store.append_samples(society.pop_samples())
    else:
        society.pop_samples()
    store.write_json(layout.EVENTS, society.event_log)
    store.write_graph(society.graph)
    store.update_manifest(rounds_done=society.round)


def run_scenario(
    scenario: Scenario,
    out: Path | None = None,
    *,
    origin: str = "<scenario>",
    on_round: Progress | None = None,
) -> Path:
    """Run ``scenario`` for its rounds and write the run directory.

    Nothing is written until the society is built, so bad input leaves no directory.

    Args:
        scenario: a validated scenario.
        out: the run directory (default ``runs/<name>-<timestamp>``).
        origin: the scenario file, for error messages.
        on_round: called after round 0 and after every round (progress bars, dashboards).

    Returns:
        The run directory.
    """
    out = Path(out) if out is not None else default_out(scenario)
    check_out(out)
    society = build_society(scenario, origin)
    store = RunStore.create(out, scenario, society.tokenizer.to_str())
    store.update_manifest(real_data=society.sources.manifest(scenario.real_data))
    try:
        write_round(store, society)
        checkpoint_if_due(out, society)
        if on_round:
            on_round(society)
        for _ in range(scenario.rounds):
            society.step()
            write_round(store, society)
            checkpoint_if_due(out, society)
            if on_round:
                on_round(society)
        society.log_samples(final=True)
        write_round(store, society)
        store.write_json(layout.EVENTS, society.event_log)
    except BaseException as error:
        store.update_manifest(
            status=layout.FAILED,
            finished=now(),
            error=traceback.format_exception_only(error)[-1].strip(),
        )
        if isinstance(error, EventError):  # an event that does not fit the society
            raise ConfigError(f"{origin}: {error}") from None
        raise
    store.update_manifest(status=layout.DONE, finished=now())
    return out


def summary(society: Society) -> dict[str, Any]:
    """The first and last measured rounds of the headline metrics."""
    table = society.round_table()
    first, last = table.iloc[0], table.iloc[-1]
    names = ("perplexity", "distinct_2", "entropy", "vocab_size", "jsd_unigram_between")
    return {
        name: (float(first[name]), float(last[name]))
        for name in names
        if name in table and not (pd.isna(first[name]) and pd.isna(last[name]))
    }
