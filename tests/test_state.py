"""The resume state's interval: ``checkpoints.state_every``, or by the society's size."""

import pytest

from society.run import state
from society.run.runner import run_scenario
from society.run.state import read_header, state_interval


@pytest.mark.parametrize(
    ("agents", "rounds"),
    [(1, 1), (12, 1), (399, 1), (400, 2), (1000, 5), (1999, 9), (2000, 10), (10000, 10)],
)
def test_unset_the_interval_grows_with_agents_between_1_and_10(agents, rounds):
    assert state_interval(None, agents) == rounds


@pytest.mark.parametrize("every", [0, 1, 3, 50])
def test_a_set_interval_is_kept_whatever_the_size(every):
    assert state_interval(every, 10000) == every


def test_the_runner_saves_at_the_default_interval(tmp_path, small, monkeypatch):
    """Six agents at two agents per round of interval: a state every 3 rounds (after round 3)."""
    monkeypatch.setattr(state, "AGENTS_PER_ROUND", 2)
    scenario = small.with_overrides({"rounds": 5, "checkpoints.keep_state": True})
    assert scenario.checkpoints.state_every is None
    out = run_scenario(scenario, tmp_path / "run")
    assert read_header(out).round == 3
    every = run_scenario(scenario.with_overrides({"checkpoints.state_every": 2}), tmp_path / "b")
    assert read_header(every).round == 4


def test_no_state_is_saved_after_round_0_or_the_last_round(tmp_path, small, monkeypatch):
    """Round 0 is what a rebuild gives and the last round ends the run: neither is saved."""
    saved = []
    real = state.save_state

    def spy(run, society, samples_bytes):
        saved.append(society.round)
        return real(run, society, samples_bytes)

    monkeypatch.setattr("society.run.runner.save_state", spy)
    scenario = small.with_overrides(
        {"rounds": 3, "checkpoints.state_every": 1, "checkpoints.keep_state": True}
    )
    out = run_scenario(scenario, tmp_path / "run")
    assert saved == [1, 2]
    assert read_header(out).round == 2
    one = run_scenario(scenario.with_overrides({"rounds": 1}), tmp_path / "one")
    assert saved == [1, 2]
    assert read_header(one) is None
