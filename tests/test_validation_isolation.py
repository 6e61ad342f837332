"""The README's main job shows model collapse, against its real-data control, over seeds.

Equal data budgets (``learning.ancestor_texts = "generation"``, as in isolation.toml): the
ancestor learns from as many real texts as one generation does in a round, so the control
(``real_data.fraction = 1``, otherwise identical) carries every effect of the design and
none of learning from generated text. The corpus is ``SOCIETY_VALIDATION_SOURCE`` when
set (any plain-text corpus, any language), else the bundled KJV.
"""

import os

import pytest
from scipy.stats import spearmanr

from society.config import load_scenario
from society.sim.community_sources import load_main

from .conftest import ROOT, round_tables

SEEDS = (1, 2, 3, 4, 5)
ROUNDS = 8
SOURCE = os.environ.get("SOCIETY_VALIDATION_SOURCE", "kjv")
CONTROL = {"real_data.fraction": 1.0, "real_data.schedule": []}


@pytest.fixture(scope="module")
def scenario():
    base = load_scenario(ROOT / "scenarios" / "isolation.toml")
    assert base.learning.ancestor_texts == "generation"
    return base.with_overrides({"rounds": ROUNDS, "metrics.samples": False})


@pytest.fixture(scope="module")
def corpus(scenario):
    return load_main(scenario.real_data.model_copy(update={"source": SOURCE}))


@pytest.fixture(scope="module")
def isolated(scenario, corpus):
    return round_tables(scenario, SEEDS, corpus=corpus)


@pytest.fixture(scope="module")
def control(scenario, corpus):
    return round_tables(scenario.with_overrides(CONTROL), SEEDS, corpus=corpus)


@pytest.mark.validation
@pytest.mark.parametrize("seed", SEEDS)
def test_control_keeps_heldout_perplexity_within_15_percent(control, seed):
    """Threshold: every round of the control within +-15% of its round 0."""
    ppl = control[seed]["perplexity"]
    assert (ppl / ppl.iloc[0]).between(0.85, 1.15).all(), ppl.round(1).tolist()


@pytest.mark.validation
@pytest.mark.parametrize("seed", SEEDS)
def test_isolation_ends_above_its_control(isolated, control, seed):
    """Threshold: final perplexity at least 1.5x the control's, rising (rho > 0.9)."""
    table = isolated[seed]
    assert table["perplexity"].iloc[-1] >= 1.5 * control[seed]["perplexity"].iloc[-1]
    assert spearmanr(table["round"], table["perplexity"]).statistic > 0.9


@pytest.mark.validation
@pytest.mark.parametrize("seed", SEEDS)
def test_isolation_lowers_distinct_2_below_its_control(isolated, control, seed):
    """Threshold: distinct-2 ends at least 0.1 below the control's, mostly falling."""
    table = isolated[seed]
    assert table["distinct_2"].iloc[-1] < control[seed]["distinct_2"].iloc[-1] - 0.1
    assert spearmanr(table["round"], table["distinct_2"]).statistic < -0.8
