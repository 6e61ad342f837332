import json
import shutil

import pandas as pd
import pytest

from analysis import RunError, load_run, load_runs
from analysis.runs import expand, flatten
from tests._runs import tiny_run


def test_flatten_dotted_keys_and_json_lists():
    config = {"seed": 1, "network": {"kind": "ring", "agents": 5}, "events": [{"round": 1}]}
    assert flatten(config) == {
        "seed": 1,
        "network.kind": "ring",
        "network.agents": 5,
        "events": '[{"round": 1}]',
    }


def test_load_run_reads_every_table():
    run = load_run(tiny_run())
    assert run.params["network.kind"] == "caveman"
    assert run.params["real_data.fraction"] == 0.0
    assert json.loads(run.params["events"]) == [{"action": "isolate_communities", "round": 1}]
    assert run.manifest["status"] == "done"
    assert list(run.rounds["round"]) == [0, 1, 2, 3, 4]
    assert (run.rounds["run"] == run.name).all()
    assert len(run.agents) == 5 * 8 and run.agents["dialect"].notna().all()
    assert len(run.pairs) == 5 * 28
    assert not run.innovations.empty
    assert {"word", "first_round", "agents"} <= set(run.innovations.columns)
    first = run.samples([0])
    assert set(first["round"]) == {0}
    assert len(first) == 8 * 40
    assert first["ancestor_ppl"].notna().sum() == 8 * 20


@pytest.fixture
def two_runs(tmp_path):
    source = tiny_run()
    for name, fraction in (("a", 0.0), ("b", 0.25)):
        target = tmp_path / "sweep" / name
        shutil.copytree(source, target)
        config = target / "config.toml"
        config.write_text(config.read_text().replace("fraction = 0.0", f"fraction = {fraction}"))
    return tmp_path / "sweep"


def test_load_runs_stacks_tables_with_varying_parameters(two_runs):
    runs = load_runs(str(two_runs / "*"))
    assert [r.name for r in runs.runs] == ["a", "b"]
    assert runs.varying == ["real_data.fraction"]
    assert len(runs.rounds) == 2 * 5
    by_run = runs.rounds.groupby("run")["real_data.fraction"].first().to_dict()
    assert by_run == {"a": 0.0, "b": 0.25}
    assert "seed" in runs.agents.columns
    assert len(runs.params) == 2 and runs.params.loc[1, "real_data.fraction"] == 0.25
    folder = load_runs(two_runs)  # a folder holding runs expands to them
    pd.testing.assert_frame_equal(folder.rounds, runs.rounds)


def test_bad_paths_raise_one_line_run_errors(tmp_path):
    with pytest.raises(RunError, match="no such directory"):
        load_run(tmp_path / "missing")
    with pytest.raises(RunError, match="no config.toml"):
        load_run(tmp_path)
    (tmp_path / "config.toml").write_text("name = [unclosed")
    with pytest.raises(RunError, match="config.toml"):
        load_run(tmp_path)
    with pytest.raises(RunError, match="no run directory matches"):
        expand(str(tmp_path / "nothing-*"))
