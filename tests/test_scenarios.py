"""Every scenario in scenarios/ validates and runs a tiny version (EGG-style games-do-not-fail)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from society.config import load_scenario
from society.run.runner import run_scenario
from tests.cheap_metrics import cheap_metrics

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
TINY = [
    "speech.utterances=8",
    "speech.max_tokens=12",
    "listening.texts=16",
    "real_data.max_texts=300",
    "tokenizer.vocab_size=300",
    "metrics.heldout_texts=10",
]
# The measurement suite's expensive parts are tested in its own tests; off here if present.
TINY += [f"{k}={str(v).lower()}" for k, v in cheap_metrics().items()]

TINY_TRANSFORMER = {
    "language_model.layers": 1,
    "language_model.width": 16,
    "language_model.heads": 2,
    "language_model.context": 16,
    "language_model.steps": 1,
    "language_model.ancestor_epochs": 0.2,
    "language_model.threads": 1,
}


def short(path: Path):
    """The scenario made tiny, run just past its last event (at least 2 rounds)."""
    scenario = load_scenario(path, TINY)
    if scenario.language_model.kind == "transformer":
        scenario = scenario.with_overrides(TINY_TRANSFORMER)
    last_event = max((e.round for e in scenario.events), default=1)
    return scenario.with_overrides({"rounds": min(scenario.rounds, last_event + 1)})


def test_the_library_is_there():
    names = {path.stem for path in SCENARIOS}
    expected = {
        "isolation", "accumulate", "mixing", "islands", "contact", "chain", "founder",
        "bottleneck", "curation", "verification", "creativity", "committed_minority",
    }  # fmt: skip
    assert expected <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_states_its_question_and_expectation(path):
    header = path.read_text(encoding="utf-8").split("\nname")[0].lower()
    assert header.startswith("# question:")
    assert "expected" in header


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenarios_do_not_fail(path, tmp_path):
    scenario = short(path)
    out = run_scenario(scenario, tmp_path / "run", origin=str(path))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done"
    assert manifest["rounds_done"] == scenario.rounds
    rounds = pd.read_parquet(out / "metrics" / "rounds.parquet")
    assert list(rounds["round"]) == list(range(scenario.rounds + 1))
    assert rounds["perplexity"].notna().all()
    events = json.loads((out / "events.json").read_text())
    assert [(e["round"], e["action"]) for e in events] == [
        (e.round, e.action) for e in scenario.events
    ]
