"""pretrained_collapse.toml: a tiny local checkpoint stands in for OPT-125m."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from society.app.cli import app
from society.run import layout
from tests.tiny_checkpoints import save_tiny_gpt2

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

EXPERIMENT = (
    Path(__file__).resolve().parent.parent / "scenarios/experiments/pretrained_collapse.toml"
)


@pytest.fixture(scope="module")
def local_files(tmp_path_factory, grammar_600):
    """A tiny GPT-2 saved with save_pretrained, and a corpus file, in a temporary folder."""
    from society.lm.tokenizer import SharedTokenizer

    root = tmp_path_factory.mktemp("local")
    tokenizer = SharedTokenizer.train(grammar_600.train, 300, 2)
    save_tiny_gpt2(root / "tiny-gpt2", tokenizer, positions=64)
    (root / "corpus.txt").write_text("\n".join(grammar_600.train + grammar_600.heldout) + "\n")
    return root


def tiny(root: Path) -> list[str]:
    """The file's design at toy size, on the local checkpoint and corpus."""
    pairs = {
        "language_model.path": root / "tiny-gpt2",
        "real_data.source": root / "corpus.txt",
        "rounds": 2,
        "network.agents": 2,
        "real_data.max_texts": 300,
        "speech.utterances": 10,
        "speech.max_tokens": 16,
        "listening.texts": 10,
        "language_model.batch_size": 4,
        "language_model.lora_rank": 2,
        "language_model.device": "cpu",
        "metrics.heldout_texts": 10,
        "metrics.ancestor_texts": 5,
        "metrics.cross_texts": 0,
    }
    return [arg for key, value in pairs.items() for arg in ("--set", f"{key}={value}")]


def test_the_file_asks_for_its_design():
    from society.app.experiment import load_experiment

    experiment, base = load_experiment(EXPERIMENT, local_files=False)
    assert set(experiment.conditions) == {"closed", "real10", "control"}
    assert experiment.conditions["control"]["real_data.fraction"] == 1.0
    assert experiment.conditions["real10"] == {"real_data": {"fraction": 0.1}}
    lm = base.language_model
    assert lm.kind == "transformer" and lm.lora and lm.context == 64
    assert base.speech.max_tokens == 64
    assert base.learning.init == "ancestor" and base.learning.data == "replace"
    assert base.learning.ancestor_texts == "generation"
    # its local paths are read from the experiment's folder
    assert lm.path == str((EXPERIMENT.parent / "../../local/opt-125m").resolve())


def test_without_its_local_files_validate_passes_and_experiment_refuses(tmp_path):
    if (EXPERIMENT.parent / "../../local/opt-125m").exists():
        pytest.skip("the local checkpoint is present on this machine")
    ok = CliRunner().invoke(app, ["validate", str(EXPERIMENT)])
    assert ok.exit_code == 0, ok.output
    assert "needs local files not here" in ok.output and "language_model.path" in ok.output
    out = tmp_path / "exp"
    refused = CliRunner().invoke(app, ["experiment", str(EXPERIMENT), "--out", str(out)])
    assert refused.exit_code == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "language_model.path" in lines[0]
    assert "is not a checkpoint directory" in lines[0]
    assert not out.exists()


def test_a_tiny_checkpoint_version_runs_through_society_experiment(tmp_path, local_files):
    out = tmp_path / "exp"
    args = ["experiment", str(EXPERIMENT), "--out", str(out), "--seeds", "2", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, *tiny(local_files)])
    assert result.exit_code == 0, result.output
    index = pd.read_parquet(out / layout.SWEEP_INDEX)
    assert sorted(index["condition"].unique()) == ["closed", "control", "real10"]
    assert (index["status"] == layout.DONE).all() and len(index) == 6
    results = pd.read_parquet(out / layout.RESULTS)
    assert list(results["metric"]) == ["perplexity", "tail_mass"]
    verdict = (out / layout.VERDICT).read_text()
    assert "closed" in verdict and "real10" in verdict and "control" in verdict
    # the runs used the local checkpoint: LoRA agents with the tiny base's tokenizer
    run = Path(index["path"].iloc[0])
    run = run if run.is_absolute() else out / run
    config = (run / layout.CONFIG).read_text()
    assert str(local_files / "tiny-gpt2") in config and "lora = true" in config
