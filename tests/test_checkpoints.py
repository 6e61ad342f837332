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


def test_metadata_names_backend_round_agent(run):
    from safetensors import safe_open

    out, _ = run
    path = out / "checkpoints" / "round-2" / "agent-3.safetensors"
    with safe_open(str(path), "np") as handle:
        meta = handle.metadata()
    assert meta == {"backend": "ngram", "round": "2", "agent": "3"}
    assert "counts" in load_file(path)


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
