"""Per-agent checkpoints in the run directory, for any backend (safetensors, never pickle).

Layout (names from ``society.run.layout``)::

    RUN/checkpoints/ancestor.safetensors              generation 0 (written once)
    RUN/checkpoints/round-<R>/agent-<ID>.safetensors  each agent's model after round R

Each file holds the flat dict of arrays returned by ``LanguageModel.state()``; its
metadata names the backend, the round and the agent. A model is rebuilt from the run's
own ``config.toml`` and ``tokenizer.json``, so a checkpoint needs nothing but its run
directory.
"""

from __future__ import annotations

import tomllib
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
from society.run.store import atomic_write_bytes

if TYPE_CHECKING:
    from society.sim.model import Society


class CheckpointError(ValueError):
    """A checkpoint that is not in the run directory (one line, names what is missing)."""


def _write_state(path: Path, lm: LanguageModel, metadata: dict[str, str]) -> None:
    state = {name: np.asarray(value, order="C") for name, value in lm.state().items()}
    atomic_write_bytes(path, save_bytes(state, metadata=metadata))


def save_checkpoint(run_dir: Path, round_: int, society: Society) -> Path:
    """Write every agent's model after ``round_`` (and the ancestor, once).

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
    for agent in society.agents:
        meta = {
            "backend": table_for(config, agent.model_from).kind,
            "round": str(round_),
            "agent": str(agent.unique_id),
        }
        if agent.model_from in config.communities:  # a mixed population: whose table
            meta["community"] = str(agent.model_from)
        _write_state(layout.agent_checkpoint(run_dir, round_, agent.unique_id), agent.lm, meta)
    return folder


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
    found = (layout.checkpoint_agent(p.name) for p in folder.iterdir())
    return sorted(a for a in found if a is not None)


def run_scenario_config(run_dir: Path) -> Scenario:
    """The resolved scenario of a run (its ``config.toml``, older layouts included)."""
    path = Path(run_dir) / layout.CONFIG
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: not a run directory (no config.toml)")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if isinstance(data.get("language_model"), dict):
        data["language_model"] = own_keys(data["language_model"])
    return validate_scenario(data, str(path))


def _rebuild(run_dir: Path, path: Path) -> LanguageModel:
    scenario = run_scenario_config(run_dir)
    tokenizer = SharedTokenizer.load(Path(run_dir) / layout.TOKENIZER)
    with safe_open(str(path), "np") as handle:
        community = (handle.metadata() or {}).get("community")
    config = table_for(scenario.language_model, None if community is None else int(community))
    if isinstance(config, TransformerConfig):
        # a run made on a GPU opens anywhere: rebuild on whatever device this machine has
        config = config.model_copy(update={"device": "auto"})
    lm = build_language_model(config, tokenizer)
    lm.load(load_file(path))
    return lm


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
    if not path.is_file():
        agents = available_agents(run_dir, round_)
        raise CheckpointError(f"{run_dir}: round {round_} has no agent {agent_id} (have {agents})")
    return _rebuild(run_dir, path)


def load_ancestor(run_dir: Path) -> LanguageModel:
    """Rebuild the run's generation-0 model.

    Raises:
        CheckpointError: the run has no ancestor checkpoint.
    """
    path = layout.ancestor_checkpoint(run_dir)
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: no ancestor checkpoint")
    return _rebuild(run_dir, path)


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
