import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from society.app.cli import app
from society.app.export import ExportError, export_agent
from society.config import Scenario
from society.run.checkpoints import load_agent, load_ancestor
from society.run.runner import run_scenario

TINY = {
    "rounds": 2,
    "network.kind": "complete",
    "network.agents": 3,
    "language_model.kind": "transformer",
    "language_model.layers": 2,
    "language_model.width": 32,
    "language_model.heads": 2,
    "language_model.context": 32,
    "language_model.ancestor_epochs": 1,
    "language_model.threads": 1,
    "speech.utterances": 12,
    "speech.max_tokens": 12,
    "real_data.max_texts": 300,
    "tokenizer.vocab_size": 300,
    "metrics.heldout_texts": 20,
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    scenario = Scenario().with_overrides(TINY)
    with pytest.MonkeyPatch.context() as patch:  # run a trains the ancestor, b reads it back
        patch.setenv("SOCIETY_CACHE", str(root / "cache"))
        return run_scenario(scenario, root / "a"), run_scenario(scenario, root / "b"), root


def test_same_seed_gives_identical_metrics(runs):
    a, b, root = runs
    assert len(list((root / "cache" / "ancestors").glob("*.safetensors"))) == 1
    for name in ("rounds", "agents", "pairs"):
        left = pd.read_parquet(a / "metrics" / f"{name}.parquet")
        right = pd.read_parquet(b / "metrics" / f"{name}.parquet")
        pd.testing.assert_frame_equal(left, right)
    assert (a / "samples.jsonl").read_bytes() == (b / "samples.jsonl").read_bytes()


def test_export_round_trips_through_plain_transformers(runs, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, _, _ = runs
    out = export_agent(run, 2, tmp_path / "agent2")
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    agent = load_agent(run, 2)
    text = "And the LORD spake unto Moses, saying,"
    ids = [agent.tokens.eos_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]
    assert ids[1:] == agent.tokens.encode_batch([text])[0].tolist()
    with torch.no_grad():
        theirs = model(torch.tensor([ids])).logits[0].numpy()
    np.testing.assert_allclose(theirs, agent.logits(ids), rtol=1e-4, atol=1e-4)
    assert json.loads((out / "society.json").read_text())["round"] == 2
    ancestor = export_agent(run, None, tmp_path / "ancestor")
    with torch.no_grad():
        first = AutoModelForCausalLM.from_pretrained(ancestor)(torch.tensor([ids])).logits[0]
    np.testing.assert_allclose(first.numpy(), load_ancestor(run).logits(ids), rtol=1e-4, atol=1e-4)
    assert not np.allclose(first.numpy(), theirs, atol=1e-3)


def test_export_refuses_ngram_runs_and_non_empty_targets(small, tmp_path, runs):
    run, _, _ = runs
    ngram = run_scenario(small.with_overrides({"rounds": 1}), tmp_path / "ngram")
    with pytest.raises(ExportError, match="transformer"):
        export_agent(ngram, 1, tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(ExportError, match="not empty"):
        export_agent(run, 1, tmp_path / "full")


def test_cli_export_and_one_line_errors(runs, tmp_path):
    run, _, _ = runs
    cli = CliRunner()
    ok = cli.invoke(app, ["export", str(run), str(tmp_path / "m"), "--agent", "1", "--round", "2"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "m" / "config.json").is_file()
    bad = cli.invoke(app, ["export", str(run), str(tmp_path / "n"), "--agent", "9"])
    assert bad.exit_code == 2
    assert "no agent 9" in bad.output and "Traceback" not in bad.output


def test_export_generates_from_a_prompt_longer_than_its_context(runs, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, _, _ = runs
    out = export_agent(run, 1, tmp_path / "long")
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    context = model.config.n_positions
    assert tokenizer.model_max_length == context == TINY["language_model.context"]
    assert model.generation_config.max_length == context
    prompt = " ".join(["and the LORD spake unto Moses in the wilderness"] * 20)
    full = tokenizer(prompt)["input_ids"]
    assert len(full) > 2 * context
    new = 8
    ids = tokenizer(prompt, truncation=True, max_length=context - new, return_tensors="pt")
    assert ids["input_ids"][0].tolist() == full[-(context - new) :]  # truncated from the left
    torch.manual_seed(0)
    generated = model.generate(**ids, max_new_tokens=new, do_sample=True)
    assert generated.shape[1] == context
    # the left-truncated default keeps the last `context` tokens
    longest = tokenizer(prompt, truncation=True)["input_ids"]
    assert longest == full[-context:]


def test_export_writes_provenance_and_a_model_card(runs, tmp_path):
    import hashlib

    run, _, _ = runs
    out = export_agent(run, 2, tmp_path / "card")
    origin = json.loads((out / "society.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    assert origin["seed"] == manifest["seed"]
    assert (
        origin["scenario_sha256"] == hashlib.sha256((run / "config.toml").read_bytes()).hexdigest()
    )
    assert origin["society_version"] == manifest["versions"]["society"]
    assert origin["agent"] == 2 and origin["round"] == 2
    card = (out / "README.md").read_text()
    assert origin["scenario_sha256"] in card and "agent 2" in card
    assert f"{origin['context']} tokens" in card
