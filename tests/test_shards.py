"""Agent shards on a dask cluster give the local run's tables ([compute], sim/shards.py)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from society.app.cli import app
from society.config import ConfigError, Scenario
from society.run import layout
from society.run.runner import run_scenario
from society.sim.shards import Shards, slices

pytest.importorskip("distributed")

SMALL = {
    "rounds": 2,
    "network.kind": "small_world",
    "network.agents": 7,
    "network.k": 2,
    "speech.utterances": 20,
    "speech.max_tokens": 20,
    "real_data.max_texts": 600,
    "real_data.fraction": 0.25,
    "tokenizer.vocab_size": 400,
    "learning.data": "accumulate",
    "metrics.heldout_texts": 20,
    "metrics.expensive_every": 2,
    "metrics.self_bleu_texts": 0,
    "metrics.mantel_permutations": 9,
}


@pytest.mark.parametrize(("n", "shards"), [(7, 3), (7, 7), (3, 5), (10, 1)])
def test_slices_cover_every_agent_once_in_order(n, shards):
    parts = slices(n, shards)
    assert [i for part in parts for i in range(n)[part]] == list(range(n))
    assert all(part.stop > part.start for part in parts)
    assert len(parts) == min(n, shards)


def _tables(run: Path) -> dict[str, pd.DataFrame]:
    return {f.name: pd.read_parquet(f) for f in sorted((run / "metrics").glob("*.parquet"))}


def test_a_sharded_run_on_a_local_cluster_equals_the_local_run(tmp_path):
    local = run_scenario(Scenario().with_overrides(SMALL), tmp_path / "local")
    sharded_scenario = Scenario().with_overrides(
        {**SMALL, "compute.shards": 3, "compute.workers": 2}
    )
    sharded = run_scenario(sharded_scenario, tmp_path / "sharded")
    a, b = _tables(local), _tables(sharded)
    assert a.keys() == b.keys() and "agents.parquet" in a
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
    said = (local / layout.SAMPLES).read_text()
    assert said == (sharded / layout.SAMPLES).read_text()
    assert len(said.splitlines()) == 7 * 20 * 3  # three rounds said, all logged
    manifest = json.loads((sharded / layout.MANIFEST).read_text())
    assert manifest["status"] == layout.DONE


def test_shards_pickle_without_their_connection():
    shards = Shards(Scenario().with_overrides({"compute.shards": 2}).compute)
    shards._client = object()  # stands for an open client
    again = pickle.loads(pickle.dumps(shards))
    assert again._client is None and again.config.shards == 2


def test_unsharded_calls_never_open_a_client():
    shards = Shards(Scenario().compute)
    assert shards.sample([], []) == []
    shards.update([], [])
    assert shards._client is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"compute.scheduler": "myhost"}, "compute.scheduler"),
        ({"compute.shards": -1}, "compute.shards"),
        ({"compute.shards": 2, "language_model.kind": "transformer"}, "compute.shards"),
    ],
)
def test_bad_compute_tables_are_one_line_errors(overrides, field):
    with pytest.raises(ConfigError, match=field):
        Scenario().with_overrides(overrides)


def test_an_unreachable_scheduler_stops_before_anything_is_written(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        "rounds = 1\n[compute]\nshards = 2\nscheduler = 'tcp://127.0.0.1:9'\n", encoding="utf-8"
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "compute.scheduler: cannot connect" in lines[0]
    assert lines[0].startswith(f"error: {scenario}")
    assert "Traceback" not in result.output + result.stderr
    assert not out.exists()
