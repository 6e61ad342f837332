"""The README's main job shows model collapse: checked over several seeds."""

import pytest
from scipy.stats import spearmanr

from society.config import load_scenario

from .conftest import ROOT, round_tables

SEEDS = (1, 2, 3)
ROUNDS = 8


@pytest.fixture(scope="module")
def trajectories():
    scenario = load_scenario(ROOT / "scenarios" / "isolation.toml")
    return round_tables(scenario, SEEDS, rounds=ROUNDS)


@pytest.mark.validation
@pytest.mark.parametrize("seed", SEEDS)
def test_isolation_raises_heldout_perplexity(trajectories, seed):
    """Threshold: perplexity at least doubles and rises almost monotonically (rho > 0.9)."""
    table = trajectories[seed]
    assert table["perplexity"].iloc[-1] > 2 * table["perplexity"].iloc[0]
    assert spearmanr(table["round"], table["perplexity"]).statistic > 0.9


@pytest.mark.validation
@pytest.mark.parametrize("seed", SEEDS)
def test_isolation_lowers_distinct_2(trajectories, seed):
    """Threshold: distinct-2 falls by at least 0.1 and mostly monotonically (rho < -0.8)."""
    table = trajectories[seed]
    assert table["distinct_2"].iloc[-1] < table["distinct_2"].iloc[0] - 0.1
    assert spearmanr(table["round"], table["distinct_2"]).statistic < -0.8
