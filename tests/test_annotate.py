"""``society annotate``: export a round to label; the labelled file drives curation."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from society.app.annotate import AnnotateError, export_for_labelling, read_samples
from society.app.cli import app
from society.config import Scenario
from society.run.runner import run_scenario
from society.sim.curation import load_labels
from society.sim.model import Society
from tests.cheap_metrics import cheap_metrics


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    overrides = {
        "rounds": 2,
        "network.kind": "complete",
        "network.agents": 3,
        "real_data.source": "grammar",
        "real_data.max_texts": 400,
        "speech.utterances": 15,
        "speech.max_tokens": 15,
        "tokenizer.vocab_size": 300,
        "metrics.heldout_texts": 10,
        **cheap_metrics(),
    }
    return Scenario().with_overrides(overrides)


@pytest.fixture(scope="module")
def run_dir(scenario, tmp_path_factory):
    return run_scenario(scenario, tmp_path_factory.mktemp("annotate") / "run")


def test_export_writes_one_round_to_label(run_dir, tmp_path):
    out = tmp_path / "labels.csv"
    written = export_for_labelling(run_dir, 1, out)
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == ["round", "agent", "text", "label"]
    samples = read_samples(run_dir)
    said = samples[samples["round"] == 1]["text"]
    assert written == len(table) == said.nunique()
    assert set(table["text"]) == set(said)
    assert (table["round"] == 1).all() and (table["label"] == "").all()


def test_export_a_seeded_sample_as_jsonl(run_dir, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert export_for_labelling(run_dir, 0, a, count=5, seed=3) == 5
    export_for_labelling(run_dir, 0, b, count=5, seed=3)
    assert a.read_text() == b.read_text()
    rows = [json.loads(line) for line in a.read_text().splitlines()]
    assert len(rows) == 5 and {r["round"] for r in rows} == {0}


def test_export_errors(run_dir, tmp_path):
    with pytest.raises(AnnotateError, match=r"no samples for round 9 \(rounds: \[0, 1, 2\]\)"):
        export_for_labelling(run_dir, 9, tmp_path / "x.csv")
    with pytest.raises(AnnotateError, match="no such run directory"):
        export_for_labelling(tmp_path / "nope", 1, tmp_path / "x.csv")


def test_cli_annotate(run_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "l.csv"
    ok = runner.invoke(app, ["annotate", str(run_dir), "--round", "1", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert out.is_file()
    bad = runner.invoke(app, ["annotate", str(tmp_path / "nope"), "--round", "1", "--out", "x"])
    assert bad.exit_code == 2
    assert "no such run directory" in bad.output


def test_labelled_export_filters_a_new_run(run_dir, scenario, tmp_path):
    out = tmp_path / "labels.csv"
    export_for_labelling(run_dir, 0, out)
    table = pd.read_csv(out, keep_default_na=False)
    table["label"] = ["no" if i % 2 else "yes" for i in range(len(table))]
    table.to_csv(out, index=False)
    labels = load_labels(out)
    assert sum(labels.values()) == (len(table) + 1) // 2
    # Same scenario and seed: round 0 speech is the exported speech; listeners of round 1
    # keep only what the annotator accepted.
    s = Society(scenario.with_overrides({"curation.labels": str(out)}))
    s.step()
    for agent in s.agents:
        assert agent.kept and all(labels[t] for t in agent.kept)
        rejected = [t for t in agent.heard_texts if not labels[t]]
        assert len(agent.kept) == len(agent.heard_texts) - len(rejected)
