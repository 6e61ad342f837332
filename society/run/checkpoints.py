"""Agents' checkpoints in the run directory, for any backend (safetensors, never pickle).

Layout (names from ``society.run.layout``)::

    RUN/checkpoints/ancestor.safetensors              generation 0 (written once)
    RUN/checkpoints/round-<R>/agents.safetensors.gz   every n-gram agent after round R, packed
    RUN/checkpoints/round-<R>/agent-<ID>.safetensors  each other agent's model after round R

n-gram agents (sparse counts) share one compressed file per round
(``society.run.population``: concatenated n-grams with per-agent shapes, narrow dtypes,
gzip; 1,000 default agents 8.4 MB instead of ~51 MB of per-agent files). Other backends
(weights, which neither narrow nor compress) keep one file per agent holding the flat dict
of arrays returned by ``LanguageModel.state()``. Metadata names the backend, the round and
the agent (and a mixed population's community). Runs written before packing (an n-gram
agent per file) are read as before. A model is rebuilt from the run's own ``config.toml``
and ``tokenizer.json``, so a checkpoint needs nothing but its run directory.
"""

from __future__ import annotations

import json
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file
from safetensors.numpy import save as save_bytes

from society.config import Scenario, TransformerConfig, validate_scenario
from society.config.language_model import own_keys, table_for
from society.lm.base import LanguageModel
from society.lm.factory import build_language_model
from society.lm.tokenizer import SharedTokenizer
from society.run import layout
from society.run.population import PackError, Population, pack
from society.run.store import atomic_write_bytes

if TYPE_CHECKING:
    from society.sim.model import Society


PACKED = ("ngram",)
"""Backends whose agents are packed into the round's one population file (sparse counts)."""


class CheckpointError(ValueError):
    """A checkpoint that is not in the run directory (one line, names what is missing)."""


def _write_state(path: Path, lm: LanguageModel, metadata: dict[str, str]) -> None:
    state = {name: np.asarray(value, order="C") for name, value in lm.state().items()}
    atomic_write_bytes(path, save_bytes(state, metadata=metadata))


def save_checkpoint(run_dir: Path, round_: int, society: Society) -> Path:
    """Write every agent's model after ``round_`` (and the ancestor, once).

    n-gram agents go into the round's population file, any other agent into its own file.

    Args:
        run_dir: the run directory.
        round_: the round just finished.
        society: the society whose agents are saved.

    Returns:
        The round's checkpoint directory.
    """
    config = society.scenario.language_model
    folder = layout.round_dir(run_dir, round_)
    folder.mkdir(parents=True, exist_ok=True)
    ancestor = layout.ancestor_checkpoint(run_dir)
    if not ancestor.exists():
        meta = {"backend": config.kind, "round": "0", "agent": "-1"}
        _write_state(ancestor, society.ancestor, meta)
    packed = []
    communities: dict[str, int] = {}
    for agent in society.agents:
        backend = table_for(config, agent.model_from).kind
        community = agent.model_from if agent.model_from in config.communities else None
        if backend in PACKED:
            packed.append(agent)
            if community is not None:
                communities[str(agent.unique_id)] = int(community)
            continue
        meta = {"backend": backend, "round": str(round_), "agent": str(agent.unique_id)}
        if community is not None:  # a mixed population: whose table
            meta["community"] = str(community)
        _write_state(layout.agent_checkpoint(run_dir, round_, agent.unique_id), agent.lm, meta)
    if packed:
        meta = {"backend": "ngram", "round": str(round_), "communities": json.dumps(communities)}
        states = ((agent.unique_id, agent.lm.state()) for agent in packed)  # one at a time
        atomic_write_bytes(layout.population_checkpoint(run_dir, round_), pack(states, meta))
    return folder


@lru_cache(maxsize=1)
def _open_population(path: str, stamp: tuple[int, int]) -> Population:
    """The population file at ``path`` (cached while its mtime and size stay ``stamp``)."""
    del stamp  # part of the cache key only
    try:
        return Population(Path(path).read_bytes())
    except PackError as error:
        raise CheckpointError(f"{path}: {error}") from None


def open_population(run_dir: Path, round_: int) -> Population | None:
    """The round's packed n-gram agents (None when the round has no population file).

    Raises:
        CheckpointError: the file is not a packed population.
    """
    path = layout.population_checkpoint(run_dir, round_)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return _open_population(str(path), (stat.st_mtime_ns, stat.st_size))


def available_rounds(run_dir: Path) -> list[int]:
    """Rounds with a checkpoint, ascending."""
    root = layout.checkpoints(run_dir)
    if not root.is_dir():
        return []
    found = (layout.checkpoint_round(p.name) for p in root.iterdir() if p.is_dir())
    return sorted(r for r in found if r is not None)


def available_agents(run_dir: Path, round_: int) -> list[int]:
    """Agent ids checkpointed at ``round_``, ascending."""
    folder = layout.round_dir(run_dir, round_)
    if not folder.is_dir():
        return []
    found = {layout.checkpoint_agent(p.name) for p in folder.iterdir()}
    population = open_population(run_dir, round_)
    return sorted({a for a in found if a is not None} | set(population.ids if population else ()))


def run_scenario_config(run_dir: Path) -> Scenario:
    """The resolved scenario of a run (its ``config.toml``, older layouts included)."""
    path = Path(run_dir) / layout.CONFIG
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: not a run directory (no config.toml)")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if isinstance(data.get("language_model"), dict):
        data["language_model"] = own_keys(data["language_model"])
    return validate_scenario(data, str(path))


def _rebuild(run_dir: Path, state: dict[str, np.ndarray], community: str | None) -> LanguageModel:
    scenario = run_scenario_config(run_dir)
    tokenizer = SharedTokenizer.load(Path(run_dir) / layout.TOKENIZER)
    config = table_for(scenario.language_model, None if community is None else int(community))
    if isinstance(config, TransformerConfig):
        # a run made on a GPU opens anywhere: rebuild on whatever device this machine has
        config = config.model_copy(update={"device": "auto"})
    lm = build_language_model(config, tokenizer)
    lm.load(state)
    return lm


def _rebuild_file(run_dir: Path, path: Path) -> LanguageModel:
    with safe_open(str(path), "np") as handle:
        community = (handle.metadata() or {}).get("community")
    return _rebuild(run_dir, load_file(path), community)


def load_agent(run_dir: Path, agent_id: int, round_: int | None = None) -> LanguageModel:
    """Rebuild one agent's model from a run directory.

    Args:
        run_dir: the run directory.
        agent_id: the agent's ``unique_id``.
        round_: the round (default: the latest checkpointed round).

    Returns:
        The agent's language model, same backend as in the run.

    Raises:
        CheckpointError: no such round or agent.
    """
    rounds = available_rounds(run_dir)
    if not rounds:
        raise CheckpointError(f"{run_dir}: no checkpoints")
    round_ = rounds[-1] if round_ is None else int(round_)
    if round_ not in rounds:
        raise CheckpointError(f"{run_dir}: no checkpoint for round {round_} (have {rounds})")
    path = layout.agent_checkpoint(run_dir, round_, agent_id)
    if path.is_file():
        return _rebuild_file(run_dir, path)
    population = open_population(run_dir, round_)
    if population is not None and agent_id in population:
        community = json.loads(population.metadata.get("communities", "{}")).get(str(agent_id))
        return _rebuild(
            run_dir, population.state(agent_id), None if community is None else str(community)
        )
    agents = available_agents(run_dir, round_)
    raise CheckpointError(f"{run_dir}: round {round_} has no agent {agent_id} (have {agents})")


def load_ancestor(run_dir: Path) -> LanguageModel:
    """Rebuild the run's generation-0 model.

    Raises:
        CheckpointError: the run has no ancestor checkpoint.
    """
    path = layout.ancestor_checkpoint(run_dir)
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: no ancestor checkpoint")
    return _rebuild_file(run_dir, path)


def checkpoint_due(scenario: Scenario, round_: int) -> bool:
    """Whether ``round_`` is saved: the last round always, and every ``checkpoints.every``."""
    every = scenario.checkpoints.every
    return round_ == scenario.rounds or (every > 0 and round_ > 0 and round_ % every == 0)


def checkpoint_if_due(run_dir: Path, society: Society) -> Path | None:
    """Save the society's current round if :func:`checkpoint_due` says so.

    Returns:
        The round's checkpoint directory, or None when nothing was saved.
    """
    if not checkpoint_due(society.scenario, society.round):
        return None
    return save_checkpoint(run_dir, society.round, society)
