"""The run's collector thresholds: raised for the block, restored after, never lowered."""

import gc

import pytest

from society.run.garbage import RUN_THRESHOLDS, fewer_collections


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_raised_inside_and_restored_after(thresholds):
    gc.set_threshold(700, 10, 10)
    with fewer_collections():
        assert gc.get_threshold() == RUN_THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10)


def test_restored_when_the_block_raises(thresholds):
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("stop")
    assert gc.get_threshold() == (700, 10, 10)


def test_higher_settings_are_kept(thresholds):
    gc.set_threshold(100_000, 5, 500)
    with fewer_collections():
        assert gc.get_threshold() == (100_000, 20, 500)


def test_a_run_steps_under_the_raised_thresholds(thresholds, small, tmp_path, monkeypatch):
    from society.run import runner

    seen = []
    step = runner.Society.step

    def spy(self):
        seen.append(gc.get_threshold())
        step(self)

    monkeypatch.setattr(runner.Society, "step", spy)
    gc.set_threshold(700, 10, 10)
    runner.run_scenario(small, tmp_path / "run")
    assert seen and all(t == RUN_THRESHOLDS for t in seen)
    assert gc.get_threshold() == (700, 10, 10)


def test_cli_commands_run_under_the_raised_thresholds(thresholds, monkeypatch):
    from typer.testing import CliRunner

    from society.app import cli

    seen = []
    load = cli.load_scenario

    def spy(*args, **kwargs):
        seen.append(gc.get_threshold())
        return load(*args, **kwargs)

    monkeypatch.setattr(cli, "load_scenario", spy)
    gc.set_threshold(700, 10, 10)
    result = CliRunner().invoke(cli.app, ["validate", "scenarios/isolation.toml"])
    assert result.exit_code == 0, result.output
    assert seen == [RUN_THRESHOLDS]
    assert gc.get_threshold() == (700, 10, 10)
