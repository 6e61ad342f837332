import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

from society.app.cli import app
from society.app.sweep import (
    Cell,
    RunSpec,
    grid_cells,
    parse_grid,
    parse_links,
    plan,
    run_one,
    run_path,
    run_sweep,
    seed_list,
)
from society.config import ConfigError, load_scenario, validate_scenario

TINY = """
name = "tiny"
rounds = 2
[network]
kind = "complete"
agents = 3
[speech]
utterances = 15
max_tokens = 20
[real_data]
max_texts = 600
[tokenizer]
vocab_size = 400
[metrics]
heldout_texts = 30
classifier_agents = 0
self_bleu_texts = 0
dialect_null = 0
mantel_permutations = 0
"""


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def runs_with_status(out: Path, status: str) -> list[Path]:
    found = []
    for path in out.glob("runs/**/manifest.json"):
        try:
            if json.loads(path.read_text())["status"] == status:
                found.append(path.parent)
        except (OSError, ValueError):
            continue  # being written
    return found


def dying_runner(spec: RunSpec) -> dict:
    """Kills its worker process for seed 1; pretends to run the others."""
    if spec.seed == 1:
        os._exit(3)
    return {"path": spec.path, "status": "done", "error": "", "seconds": 0.0}


def test_parse_grid_reads_values_as_toml():
    grid = parse_grid(["real_data.fraction=0,0.1", "network.kind=ring,complete", "x.y=true"])
    assert grid == {
        "real_data.fraction": [0, 0.1],
        "network.kind": ["ring", "complete"],
        "x.y": [True],
    }
    with pytest.raises(ConfigError, match="expected key.path=value1,value2"):
        parse_grid(["real_data.fraction"])
    with pytest.raises(ConfigError, match="--grid seed: .*--seeds"):
        parse_grid(["seed=1,2"])  # one seed column, set by --seeds
    with pytest.raises(ConfigError, match="given twice"):
        parse_grid(["a=1", "a=2"])


def test_grid_cells_are_all_combinations_named_hive_style():
    cells = grid_cells({"a.b": [1, 2], "c": ["x", "y", "z"]})
    assert len(cells) == 6
    assert cells[0] == Cell({"a.b": 1, "c": "x"}, {"a.b": 1, "c": "x"})
    assert grid_cells({}) == [Cell({}, {})]
    assert run_path({"a.b": 0.1, "c": "x/y"}, 3) == "runs/a.b=0.1/c=x-y/seed=3"
    assert seed_list(7, 3) == [7, 8, 9]
    assert seed_list(7, [4, 2]) == [4, 2]
    with pytest.raises(ConfigError):
        seed_list(0, [1, 1])


def test_plan_validates_every_cell_first(tiny_file, tmp_path):
    scenario = load_scenario(tiny_file)
    specs = plan(scenario, grid_cells({"real_data.fraction": [0, 0.5]}), 2, tmp_path / "s")
    assert [(s.labels["real_data.fraction"], s.seed) for s in specs] == [
        (0, 0), (0, 1), (0.5, 0), (0.5, 1)
    ]  # fmt: skip
    assert specs[3].scenario["real_data"]["fraction"] == 0.5 and specs[3].scenario["seed"] == 1
    with pytest.raises(ConfigError, match=r"real_data.fraction=2\): real_data.fraction"):
        plan(scenario, grid_cells({"real_data.fraction": [0, 2]}), 1, tmp_path / "s", "f.toml")
    with pytest.raises(ConfigError, match="same run directory"):
        plan(scenario, grid_cells({"name": ["a/b", "a-b"]}), 1, tmp_path / "s")


def test_a_missing_corpus_in_one_cell_stops_the_sweep_before_any_run(
    tiny_file, tmp_path, corpus_file
):
    cells = grid_cells({"real_data.source": [str(corpus_file), str(tmp_path / "later.txt")]})
    with pytest.raises(ConfigError, match=r"real_data\.source.*not found"):
        plan(load_scenario(tiny_file), cells, [0], tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_failed_runs_are_reported_and_rerun_clean(tiny_file, tmp_path):
    cells = grid_cells({"speech.temperature": [1.0, 1.2]})
    specs = plan(load_scenario(tiny_file), cells, [0], tmp_path / "s")
    partial = specs[0].directory  # a run killed midway: status running, a stray file
    partial.mkdir(parents=True)
    (partial / "manifest.json").write_text(json.dumps({"status": "running"}))
    (partial / "stray.txt").write_text("left over")
    fixed = tmp_path / "fixed"

    def runner(spec: RunSpec) -> dict:  # the second cell fails until its cause is fixed
        if spec is specs[1] and not fixed.exists():
            raise RuntimeError("disk quota exceeded")
        return run_one(spec)

    with ThreadPoolExecutor(1) as pool:
        first = run_sweep(specs, tmp_path / "s", executor=pool, runner=runner)
    assert list(first["status"]) == ["done", "failed"], list(first["error"])
    assert list(first["previous"]) == ["running", ""]
    assert "disk quota exceeded" in first["error"].iloc[1]
    assert not (partial / "stray.txt").exists()
    assert manifest(partial)["status"] == "done"
    fixed.touch()  # fix the cause, run again
    with ThreadPoolExecutor(1) as pool:
        second = run_sweep(specs, tmp_path / "s", executor=pool, runner=runner)
    assert list(second["status"]) == ["done", "done"]
    assert list(second["previous"]) == ["done", "failed"]
    on_disk = pd.read_parquet(tmp_path / "s" / "sweep.parquet")
    assert list(on_disk["status"]) == ["done", "done"]


def test_a_dead_worker_fails_only_its_own_run(tiny_file, tmp_path):
    specs = plan(load_scenario(tiny_file), [Cell({})], 4, tmp_path / "s")
    index = run_sweep(specs, tmp_path / "s", workers=2, runner=dying_runner)
    status = dict(zip(index["seed"], index["status"], strict=True))
    assert status == {0: "done", 1: "failed", 2: "done", 3: "done"}
    assert "died" in index.loc[index["seed"] == 1, "error"].item()


def test_finished_run_of_another_scenario_is_not_overwritten(tiny_file, tmp_path):
    scenario = load_scenario(tiny_file)
    with ThreadPoolExecutor(1) as pool:
        run_sweep(plan(scenario, [Cell({})], 1, tmp_path / "s"), tmp_path / "s", executor=pool)
    changed = scenario.with_overrides({"speech.temperature": 1.5})
    with pytest.raises(ConfigError, match="different scenario"):
        run_sweep(plan(changed, [Cell({})], 1, tmp_path / "s"), tmp_path / "s")


def test_dask_cluster_gives_the_same_tables_as_the_local_pool(tiny_file, tmp_path):
    from dask.distributed import LocalCluster

    scenario = load_scenario(tiny_file)
    cells = grid_cells({"real_data.fraction": [0, 0.5]})
    local = run_sweep(plan(scenario, cells, 2, tmp_path / "local"), tmp_path / "local", workers=2)
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        remote = run_sweep(
            plan(scenario, cells, 2, tmp_path / "dask"),
            tmp_path / "dask",
            scheduler=cluster.scheduler_address,
        )
    columns = ["real_data.fraction", "path", "seed", "status", "error", "previous"]
    assert_frame_equal(local[columns], remote[columns])
    assert set(local["status"]) == {"done"}
    for run in local["path"]:
        for table in ("rounds", "agents", "pairs"):
            a = pd.read_parquet(tmp_path / "local" / run / "metrics" / f"{table}.parquet")
            b = pd.read_parquet(tmp_path / "dask" / run / "metrics" / f"{table}.parquet")
            assert_frame_equal(a, b)
        samples = [(tmp_path / d / run / "samples.jsonl").read_bytes() for d in ("local", "dask")]
        assert samples[0] == samples[1]
    fractions = local.groupby("real_data.fraction")["path"].first()
    a, b = (pd.read_parquet(tmp_path / "local" / p / "metrics/rounds.parquet") for p in fractions)
    assert not a["perplexity"].equals(b["perplexity"])  # the grid really changed the runs


def test_killed_sweep_resumes_only_the_missing_runs(tiny_file, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", str(tiny_file), "--grid", "real_data.fraction=0,0.5", "--seeds", "3"]
    args += ["--out", str(out), "--workers", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "society.app.cli", *args],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300  # a safety net, not a speed requirement
        while len(runs_with_status(out, "done")) < 2 or not runs_with_status(out, "running"):
            assert process.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the sweep and its worker processes
        process.wait()
    finished = {
        str(p.relative_to(out)): (p / "manifest.json").read_bytes()
        for p in runs_with_status(out, "done")
    }
    killed = {str(p.relative_to(out)) for p in runs_with_status(out, "running")}
    assert 2 <= len(finished) < 6
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    index = pd.read_parquet(out / "sweep.parquet")
    assert len(index) == 6 and set(index["status"]) == {"done"}
    assert set(index.loc[index["previous"] == "done", "path"]) == set(finished)
    for run, before in finished.items():  # untouched: not run again
        assert (out / run / "manifest.json").read_bytes() == before
    assert set(index.loc[index["previous"] == "running", "path"]) == killed
    for run in killed:  # killed mid-run, then rerun into a clean directory
        assert f"rerun: {run} (was running)" in result.output
    assert "6/6 runs done, 0 failed" in result.output


def test_cli_sweep_bad_input_is_one_line(tiny_file, tmp_path):
    result = CliRunner().invoke(
        app, ["sweep", str(tiny_file), "--grid", "speech.utterances=0", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "speech.utterances" in lines[0] and str(tiny_file) in lines[0]
    assert not (tmp_path / "runs").exists()


def test_grid_ranges_include_the_stop_and_mix_with_values():
    grid = parse_grid(["real_data.fraction=0:0.2:0.05", "rounds=2,5:15:5"])
    assert grid["real_data.fraction"] == [0.0, 0.05, 0.1, 0.15, 0.2]
    assert grid["rounds"] == [2, 5, 10, 15]
    assert all(isinstance(r, int) for r in grid["rounds"])
    for bad in ("rounds=5:2:1", "rounds=1:5:0"):
        with pytest.raises(ConfigError, match="need step > 0"):
            parse_grid([bad])


def test_linked_keys_vary_together_and_cross_the_grid():
    links = parse_links(["a=1,2,3 b=x,y,z"])
    cells = grid_cells({"c": [0, 1]}, links)
    assert [(c.labels["c"], c.labels["a"], c.labels["b"]) for c in cells] == [
        (0, 1, "x"), (0, 2, "y"), (0, 3, "z"), (1, 1, "x"), (1, 2, "y"), (1, 3, "z"),
    ]  # fmt: skip
    assert cells[0].overrides == {"c": 0, "a": 1, "b": "x"}
    with pytest.raises(ConfigError, match="as many values"):
        parse_links(["a=1,2 b=x"])
    with pytest.raises(ConfigError, match="given twice"):
        grid_cells({"a": [1]}, links)


def test_load_runs_carries_each_grid_key_of_the_sweep_index(tiny_file, tmp_path):
    from analysis.runs import load_runs

    text = TINY.replace("[network]", "[[events]]\nround = 1\naction = 'isolate_communities'\n"
                        "[[events]]\nround = 2\naction = 'connect'\n[network]")  # fmt: skip
    text = text.replace(
        'kind = "complete"\nagents = 3', 'kind = "caveman"\ncommunities = 2\nsize = 3'
    )
    tiny_file.write_text(text)
    config = load_scenario(tiny_file)
    links = parse_links(["events.1.bridges=1,2 events.1.weight=0.5,2.0"])
    specs = plan(config, grid_cells({}, links), 1, tmp_path / "sweep")
    with ThreadPoolExecutor(1) as pool:
        index = run_sweep(specs, tmp_path / "sweep", executor=pool)
    assert set(index["status"]) == {"done"}, index["error"].tolist()
    runs = load_runs(tmp_path / "sweep")
    assert {"events.1.bridges", "events.1.weight"} <= set(runs.rounds.columns)
    final = runs.rounds[runs.rounds["round"] == 2]
    by = final.groupby("events.1.bridges")["events.1.weight"].first()
    assert by.to_dict() == {1: 0.5, 2: 2.0}
    from analysis.plots import conditions

    labels = set(conditions(runs))
    assert labels == {
        "events.1.bridges=1, events.1.weight=0.5",
        "events.1.bridges=2, events.1.weight=2.0",
    }


def test_cli_sweep_link_and_range_errors_are_one_line(tiny_file, tmp_path):
    result = CliRunner().invoke(
        app, ["sweep", str(tiny_file), "--out", str(tmp_path / "s"), "--link", "rounds=1,2 seed=3"]
    )
    assert result.exit_code == 2
    assert "as many values" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s").exists()


def test_an_unfinished_run_with_a_state_resumes_instead_of_starting_again(tiny_file, tmp_path):
    from society.run.runner import run_scenario

    scenario = load_scenario(tiny_file, ["rounds=4"])
    specs = plan(scenario, grid_cells({}), [0], tmp_path / "s")
    whole = run_scenario(validate_scenario(specs[0].scenario), tmp_path / "whole")

    def crash(society) -> None:  # noqa: ANN001
        if society.round == 2:
            raise KeyError("crash")

    with pytest.raises(KeyError):
        run_scenario(validate_scenario(specs[0].scenario), specs[0].directory, on_round=crash)
    assert manifest(specs[0].directory)["status"] == "failed"
    with ThreadPoolExecutor(1) as pool:
        table = run_sweep(specs, tmp_path / "s", executor=pool)
    assert list(table["status"]) == ["done"] and list(table["previous"]) == ["failed"]
    resumed = manifest(specs[0].directory)["resumed"]
    assert [(r["from"], r["from_round"]) for r in resumed] == [("state", 2)]
    for name in ("agents", "rounds"):
        assert_frame_equal(
            pd.read_parquet(whole / "metrics" / f"{name}.parquet"),
            pd.read_parquet(specs[0].directory / "metrics" / f"{name}.parquet"),
            check_exact=True,
        )
    assert (whole / "samples.jsonl").read_bytes() == (
        specs[0].directory / "samples.jsonl"
    ).read_bytes()
