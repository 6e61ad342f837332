"""The README's main job shows model collapse, against its real-data control, over seeds.

Equal data budgets (``learning.ancestor_texts = "generation"``, as in isolation.toml): the
ancestor learns from as many real texts as one generation does in a round, so the control
(``real_data.fraction = 1``, otherwise identical) carries every effect of the design and
none of learning from generated text. The corpus is ``SOCIETY_VALIDATION_SOURCE`` when
set (any plain-text corpus, any language), else the bundled KJV.
"""

import os

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr, theilslopes

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


def control_drift(perplexity: pd.Series) -> float:
    """Relative change of the control's perplexity over rounds 1 to the last, from its trend.

    The Theil-Sen slope of log perplexity against the round (robust to one odd draw),
    extrapolated over those rounds: 0.05 means the trend rose 5%.
    """
    later = perplexity.iloc[1:]
    slope = theilslopes(np.log(later.to_numpy()), np.arange(len(later))).slope
    return float(np.expm1(slope * (len(later) - 1)))


def control_level(perplexity: pd.Series) -> float:
    """The control's level after round 0 relative to round 0: median of rounds 1.. / round 0."""
    return float(perplexity.iloc[1:].median() / perplexity.iloc[0])


@pytest.mark.validation
@pytest.mark.parametrize("seed", SEEDS)
def test_control_has_no_trend(control, seed):
    """Threshold: the control's trend over rounds 1-8 changes perplexity by under 15%.

    Round 0's ancestor and every later generation of the control learn from a different
    random draw of the same number of real texts (equal budgets), so round 0 is one draw
    among others, not a baseline without noise: on real corpora a lucky or unlucky
    ancestor draw alone puts a whole seed 15-20% off its round 0 (French seeds 2 and 4, Vim
    seed 3, with the control flat from round 1 on). What learning from real text must not
    do is drift, so each seed is asserted on its trend after round 0 (a robust slope), and
    the level against round 0 across seeds, where the ancestor draws average out.
    """
    drift = control_drift(control[seed]["perplexity"])
    assert abs(drift) < 0.15, (drift, control[seed]["perplexity"].round(1).tolist())


@pytest.mark.validation
def test_control_keeps_heldout_perplexity_within_15_percent(control):
    """Threshold: the median over seeds of the control's level after round 0 (median of
    rounds 1-8 over round 0) within +-15% of round 0: equal budgets leave no data-size step
    (with the ancestor on the whole split, the control jumps about 3.6x at round 1)."""
    levels = {seed: control_level(table["perplexity"]) for seed, table in control.items()}
    assert abs(np.median(list(levels.values())) - 1) < 0.15, levels


@pytest.mark.validation
@pytest.mark.parametrize("seed", SEEDS)
def test_isolation_ends_above_its_control(isolated, control, seed):
    """Threshold: final perplexity at least 1.5x the control's, rising (rho > 0.9)."""
    table = isolated[seed]
    assert table["perplexity"].iloc[-1] >= 1.5 * control[seed]["perplexity"].iloc[-1]
    assert spearmanr(table["round"], table["perplexity"]).statistic > 0.9


#: Isolation's share of repeated bigrams (1 - distinct-2) ends at least this multiple of its
#: control's: the old margin, 0.1 of distinct-2 below a control at KJV's ~0.71, translated to
#: repeats (0.39 against 0.29, 1.34x) and rounded down to a third more.
REPEATS_OVER_CONTROL = 4 / 3


def repeats(distinct_2: float) -> float:
    """The share of a round's bigram tokens that repeat one already said: 1 - distinct-2."""
    return 1.0 - distinct_2


@pytest.mark.validation
@pytest.mark.parametrize("seed", SEEDS)
def test_isolation_lowers_distinct_2_below_its_control(isolated, control, seed):
    """Threshold: at the end, isolation repeats bigrams at least 4/3 as often as its control
    (1 - distinct-2; ``REPEATS_OVER_CONTROL``), and distinct-2 mostly falls (rho < -0.8).

    Why repeats and a ratio: distinct-2 is a share with a ceiling of 1 that sits at 0.64
    (grammar) to 0.86 (German) in the control, depending on the corpus's language and
    morphology; a fixed gap in it (the old criterion, 0.1 below the control, fixed on KJV)
    asks a corpus near the ceiling for a larger relative loss of variety, and so does a ratio
    of distinct-2 to control (at 15%: French and Portuguese, 0.85-0.88, would fail every
    seed though their repeats grow as much as KJV's). What isolation does is make speech
    repeat itself; the repeated share has the room to grow on every corpus, and its ratio to
    the control does not depend on where the control sits. Changed after Portuguese seed 3
    missed the old gap (0.097), with the threshold carried over from the old one on KJV, not
    tuned; repeats over control, seeds 1-5: grammar 1.47-1.58, KJV 1.41-1.48, German
    2.05-2.23, French 1.51-1.61, Vim 1.58-1.72, Portuguese 1.45-1.54.
    """
    table = isolated[seed]
    ratio = repeats(table["distinct_2"].iloc[-1]) / repeats(control[seed]["distinct_2"].iloc[-1])
    assert ratio >= REPEATS_OVER_CONTROL, (ratio, table["distinct_2"].round(3).tolist())
    assert spearmanr(table["round"], table["distinct_2"]).statistic < -0.8
