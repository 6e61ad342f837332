from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from society.run.checkpoints import (
    CheckpointError,
    available_agents,
    available_rounds,
    checkpoint_due,
    load_agent,
    load_ancestor,
)
from society.run.runner import run_scenario
from society.sim.model import Society

HELDOUT = ["In the beginning God created the heaven and the earth.", "And the earth was void."]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from society.config import Scenario

    scenario = Scenario().with_overrides(
        {
            "rounds": 3,
            "network.kind": "ring",
            "network.agents": 3,
            "speech.utterances": 20,
            "speech.max_tokens": 15,
            "real_data.max_texts": 600,
            "tokenizer.vocab_size": 400,
            "metrics.heldout_texts": 20,
            "checkpoints.every": 2,
        }
    )
    out = tmp_path_factory.mktemp("ckpt") / "run"
    return run_scenario(scenario, out), scenario


def test_rounds_saved_are_every_n_and_the_last(run):
    out, _ = run
    assert available_rounds(out) == [2, 3]
    assert available_agents(out, 3) == [1, 2, 3]
    assert (out / "checkpoints" / "ancestor.safetensors").is_file()
    assert not list(out.rglob("*.pkl")) and not list(out.rglob(".*.tmp"))


def test_loaded_agent_scores_like_the_live_agent(run):
    out, scenario = run
    live = Society(scenario)
    for _ in range(scenario.rounds):
        live.step()
    for agent in live.agents:
        loaded = load_agent(out, agent.unique_id)
        expect = agent.lm.score(HELDOUT)
        got = loaded.score(HELDOUT)
        np.testing.assert_allclose(got[0], expect[0], rtol=1e-12)
        np.testing.assert_array_equal(got[1], expect[1])
    ancestor = load_ancestor(out)
    np.testing.assert_allclose(ancestor.score(HELDOUT)[0], live.ancestor.score(HELDOUT)[0])


def test_earlier_round_differs_from_latest(run):
    out, _ = run
    early, late = load_agent(out, 1, round_=2), load_agent(out, 1)
    assert not np.allclose(early.score(HELDOUT)[0], late.score(HELDOUT)[0])


def test_metadata_names_backend_round_and_agents(run):
    from society.run import layout
    from society.run.checkpoints import open_population

    out, _ = run
    assert sorted(p.name for p in layout.round_dir(out, 2).iterdir()) == [layout.POPULATION]
    population = open_population(out, 2)
    assert population.metadata == {"backend": "ngram", "round": "2", "communities": "{}"}
    assert population.ids == [1, 2, 3] and "counts" in population.state(3)


def _live(scenario):
    live = Society(scenario)
    for _ in range(scenario.rounds):
        live.step()
    return live


@pytest.mark.parametrize("memory", [0.0, 0.3])
def test_packed_counts_and_grams_load_bit_identical(tmp_path, small, memory):
    """Whole counts (memory 0) and decayed float counts (memory 0.3) both round-trip exactly."""
    scenario = small.with_overrides({"language_model.memory": memory})
    out = run_scenario(scenario, tmp_path / "run")
    for agent in _live(scenario).agents:
        want, got = agent.lm.state(), load_agent(out, agent.unique_id).state()
        assert set(got) == set(want)
        for name, array in want.items():
            assert got[name].dtype == array.dtype and got[name].shape == array.shape
            assert got[name].tobytes() == array.tobytes(), name


def test_a_run_with_one_file_per_ngram_agent_still_loads(run, tmp_path):
    """Runs written before packing hold ``round-<R>/agent-<ID>.safetensors`` per n-gram agent."""
    import shutil

    from safetensors.numpy import save_file

    from society.run import layout

    out, _ = run
    old = Path(shutil.copytree(out, tmp_path / "old"))
    for round_ in (2, 3):
        for agent in (1, 2, 3):
            meta = {"backend": "ngram", "round": str(round_), "agent": str(agent)}
            save_file(
                load_agent(out, agent, round_).state(),
                layout.agent_checkpoint(old, round_, agent),
                meta,
            )
        layout.population_checkpoint(old, round_).unlink()
    assert available_agents(old, 3) == [1, 2, 3]
    for agent in (1, 2, 3):
        np.testing.assert_array_equal(
            load_agent(old, agent, 2).score(HELDOUT)[0], load_agent(out, agent, 2).score(HELDOUT)[0]
        )
    assert "counts" in load_file(layout.agent_checkpoint(old, 2, 3))


def test_a_packed_round_is_much_smaller_than_one_file_per_agent(tmp_path, small):
    """60 agents: the packed file is under a quarter of the per-agent files it replaces."""
    from safetensors.numpy import save

    from society.run import layout

    scenario = small.with_overrides({"rounds": 1, "network.kind": "ring", "network.agents": 60})
    out = run_scenario(scenario, tmp_path / "run")
    per_agent = sum(len(save(load_agent(out, agent).state())) for agent in available_agents(out, 1))
    packed = layout.population_checkpoint(out, scenario.rounds).stat().st_size
    assert packed < per_agent / 4, (packed, per_agent)


def test_missing_round_or_agent_is_a_one_line_error(run, tmp_path):
    out, _ = run
    with pytest.raises(CheckpointError, match="round 1"):
        load_agent(out, 1, round_=1)
    with pytest.raises(CheckpointError, match="no agent 99"):
        load_agent(out, 99)
    with pytest.raises(CheckpointError, match="no checkpoints"):
        load_agent(tmp_path, 1)
    with pytest.raises(CheckpointError, match="ancestor"):
        load_ancestor(tmp_path)


def test_checkpoint_due_rule(small):
    assert [r for r in range(4) if checkpoint_due(small, r)] == [3]
    every = small.with_overrides({"checkpoints.every": 1})
    assert [r for r in range(4) if checkpoint_due(every, r)] == [1, 2, 3]
    zero = small.with_overrides({"rounds": 0})
    assert checkpoint_due(zero, 0)


def test_a_run_written_before_the_kind_union_still_opens(run, tmp_path):
    """Older ``config.toml`` files list the keys of both kinds; the other kind's are dropped."""
    import shutil
    import tomllib

    import tomli_w

    from society.config import TransformerConfig
    from society.run.checkpoints import run_scenario_config

    out, scenario = run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    config = tomllib.loads((old / "config.toml").read_text())
    config["language_model"] |= TransformerConfig().model_dump(exclude={"kind", "path", "steps"})
    (old / "config.toml").write_text(tomli_w.dumps(config))
    assert run_scenario_config(old).language_model == scenario.language_model
    loglik = load_agent(old, 1).score(HELDOUT)[0]
    np.testing.assert_array_equal(loglik, load_agent(out, 1).score(HELDOUT)[0])
