from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from society.config import MetricsConfig
from society.lm.ngram import NGramLM
from society.lm.tokenizer import SharedTokenizer
from society.metrics.model_based import (
    PAIR_COLUMN,
    QUANTILE_COLUMNS,
    ancestor_quantiles,
    chosen_agents,
    cross_entropy_matrix,
    cross_entropy_pairs,
    symmetric_divergence,
)
from society.sim.model import Society


class Flat:
    """A fake model: every word costs ``rate`` nats."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def score(self, texts):
        tokens = np.array([len(t.split()) for t in texts], dtype=float)
        return -self.rate * tokens, tokens


def agent(uid, texts, lm):
    return SimpleNamespace(unique_id=uid, utterances=texts, lm=lm, metrics={})


def test_symmetric_divergence_known_answer():
    h = np.array([[1.0, 3.0], [2.0, 1.5]])
    d = symmetric_divergence(h)
    assert d[0, 1] == d[1, 0] == pytest.approx(((3.0 - 1.5) + (2.0 - 1.0)) / 2)
    assert d[0, 0] == d[1, 1] == 0


def test_cross_entropy_matrix_known_answer():
    texts = [["a b", "c"], ["d e f"], ["g"]]
    h = cross_entropy_matrix([Flat(1.0), Flat(2.5)], texts)
    np.testing.assert_allclose(h, [[1.0, 1.0, 1.0], [2.5, 2.5, 2.5]])


def test_ngram_divergence_separates_languages():
    english = [f"the cat sat on the mat number {i}" for i in range(60)]
    other = [f"zyx qwv plk dor fim {i} zyx" for i in range(60)]
    tok = SharedTokenizer.train(english + other, 300, 1)
    models = []
    for data in (english[:30], english[30:], other[:30]):
        lm = NGramLM(tok, order=2)
        lm.fit(data)
        models.append(lm)
    texts = [english[:10], english[30:40], other[:10]]
    d = symmetric_divergence(cross_entropy_matrix(models, texts))
    assert d[0, 1] < 0.1 * d[0, 2]
    assert d[0, 2] > 1.0 and d[1, 2] > 1.0


def test_pairs_get_values_only_for_chosen_agents():
    speakers = [agent(i + 1, [f"w{i} x y", "x y"], Flat(1.0 + i)) for i in range(4)]
    pairs = pd.DataFrame(
        [(i + 1, j + 1) for i in range(4) for j in range(i + 1, 4)], columns=["agent_i", "agent_j"]
    )
    config = MetricsConfig(cross_texts=2, cross_agents=3)
    chosen = chosen_agents(speakers, config, round_=1, seed=0)
    assert len(chosen) == 3 and chosen == chosen_agents(speakers, config, round_=1, seed=0)
    out = cross_entropy_pairs(speakers, pairs.copy(), config, round_=1, seed=0)
    ids = {speakers[k].unique_id for k in chosen}
    measured = out["agent_i"].isin(ids) & out["agent_j"].isin(ids)
    assert out.loc[measured, PAIR_COLUMN].notna().all()
    assert out.loc[~measured, PAIR_COLUMN].isna().all()
    # Flat models: H[i, j] = rate_i, so D_ij = 0 for every pair
    np.testing.assert_allclose(out.loc[measured, PAIR_COLUMN], 0.0, atol=1e-12)
    off = cross_entropy_pairs(speakers, pairs.copy(), MetricsConfig(cross_texts=0), 1, 0)
    assert off[PAIR_COLUMN].isna().all()


def test_ancestor_quantiles_known_answer():
    a = agent(1, [], None)
    a.ancestor_scores = (3, [10.0, None, 20.0, 30.0, 40.0, 50.0])
    got = ancestor_quantiles(a, 3)
    assert got["ancestor_ppl_q50"] == pytest.approx(30.0)
    assert got["ancestor_ppl_q10"] == pytest.approx(14.0)
    assert np.isnan(ancestor_quantiles(a, 4)["ancestor_ppl_q90"])


def test_society_tables_carry_the_model_measures(small):
    society = Society(small.with_overrides({"rounds": 1}))
    society.step()
    pairs = society.pair_table()
    assert pairs[PAIR_COLUMN].notna().all()
    agents = society.agent_table()
    assert set(QUANTILE_COLUMNS) <= set(agents.columns)
    assert (agents["ancestor_ppl_q10"] <= agents["ancestor_ppl_q90"]).all()
    rounds = society.round_table()
    assert rounds[f"{PAIR_COLUMN}_between"].notna().all()
