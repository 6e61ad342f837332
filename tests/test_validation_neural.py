"""Neural agents collapse too: scenarios/neural_isolation.toml, shrunk, over several seeds."""

import pytest
from scipy.stats import spearmanr

from society.config import load_scenario

from .conftest import ROOT, round_tables

SEEDS = (1, 2, 3)
ROUNDS = 4
SMALL = [  # the scenario's regime (replace, no real text), with tiny models and data
    f"rounds={ROUNDS}",
    "network.agents=3",
    "language_model.layers=2",
    "language_model.width=64",
    "language_model.heads=2",
    "language_model.context=48",
    "language_model.epochs=4",
    "language_model.learning_rate=3e-3",
    "language_model.ancestor_epochs=3",
    "language_model.threads=1",
    "real_data.max_texts=600",
    "tokenizer.vocab_size=400",
    "speech.utterances=40",
    "speech.max_tokens=30",
    "listening.texts=40",
    "metrics.heldout_texts=60",
    "metrics.cross_agents=0",
]


@pytest.fixture(scope="module")
def trajectories():
    scenario = load_scenario(ROOT / "scenarios" / "neural_isolation.toml", SMALL)
    return round_tables(scenario, SEEDS)  # the ancestor is trained once, then cached


@pytest.mark.validation
@pytest.mark.parametrize("seed", SEEDS)
def test_neural_isolation_raises_heldout_perplexity(trajectories, seed):
    """Threshold: held-out perplexity rises by half or more, near monotonically (rho >= 0.9)."""
    table = trajectories[seed]
    assert table["perplexity"].iloc[-1] > 1.5 * table["perplexity"].iloc[0]
    assert spearmanr(table["round"], table["perplexity"]).statistic >= 0.9
