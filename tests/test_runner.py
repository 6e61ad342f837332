import json
import subprocess
import sys

import pandas as pd
import pytest

from society.config import ConfigError
from society.lm.tokenizer import SharedTokenizer
from society.run.runner import run_scenario
from society.sim.model import Society

TABLES = ("rounds", "agents", "pairs")


def test_run_directory_contract(small, tmp_path):
    out = run_scenario(small, tmp_path / "run")
    for name in ("config.toml", "manifest.json", "tokenizer.json", "samples.jsonl"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done"
    assert manifest["rounds_done"] == small.rounds
    assert manifest["seed"] == small.seed
    rounds = pd.read_parquet(out / "metrics" / "rounds.parquet")
    agents = pd.read_parquet(out / "metrics" / "agents.parquet")
    pairs = pd.read_parquet(out / "metrics" / "pairs.parquet")
    assert list(rounds["round"]) == list(range(small.rounds + 1))
    assert len(agents) == 6 * (small.rounds + 1)
    assert {"round", "agent_i", "agent_j", "jsd_unigram", "jsd_bigram"} <= set(pairs.columns)
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 * 30 * (small.rounds + 1)
    assert {s["round"] for s in samples} == set(range(small.rounds + 1))
    assert SharedTokenizer.load(out / "tokenizer.json").vocab_size > 256
    assert not list(out.rglob(".*.tmp"))


def test_same_seed_gives_identical_files(small, tmp_path):
    a = run_scenario(small, tmp_path / "a")
    b = run_scenario(small, tmp_path / "b")
    for name in TABLES:
        path = f"metrics/{name}.parquet"
        assert (a / path).read_bytes() == (b / path).read_bytes(), name
    assert (a / "samples.jsonl").read_bytes() == (b / "samples.jsonl").read_bytes()


def test_crash_leaves_a_readable_failed_run(small, tmp_path, monkeypatch):
    original = Society.step

    def step(self):
        if self.round == 2:
            raise RuntimeError("boom")
        original(self)

    monkeypatch.setattr(Society, "step", step)
    with pytest.raises(RuntimeError):
        run_scenario(small, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert "boom" in manifest["error"]
    assert manifest["rounds_done"] == 1
    rounds = pd.read_parquet(tmp_path / "run" / "metrics" / "rounds.parquet")
    assert list(rounds["round"]) == [0, 1]


def test_refuses_a_non_empty_out_dir(small, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "x").write_text("keep me")
    with pytest.raises(ConfigError, match="already exists"):
        run_scenario(small, tmp_path / "run")


def test_importing_the_sweep_worker_stays_light():
    """Sweep workers import these; heavy libraries must wait until a measure needs them."""
    heavy = ["sklearn", "transformers", "sentence_transformers", "matplotlib", "torch"]
    code = (
        "import sys, society.app.sweep, society.run.runner; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""
