import math

import numpy as np
import pytest

from society.config import MetricsConfig
from society.lm.ngram import NGramLM
from society.lm.tokenizer import SharedTokenizer
from society.metrics import model_based
from society.metrics.model_based import (
    PAIR_COLUMN,
    QUANTILE_COLUMNS,
    ancestor_quantiles,
    chosen_agents,
    cross_entropy_matrix,
    grouped_perplexities,
    perplexities,
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


def test_chosen_agents_are_all_up_to_the_limit_else_a_seeded_sample():
    config = MetricsConfig(cross_texts=2, cross_agents=3)
    assert chosen_agents(3, config, round_=1, seed=0) == [0, 1, 2]
    chosen = chosen_agents(5, config, round_=1, seed=0)
    assert len(chosen) == 3 and chosen == sorted(chosen)
    assert chosen == chosen_agents(5, config, round_=1, seed=0)
    assert chosen_agents(5, MetricsConfig(cross_texts=0), 1, 0) == []
    assert chosen_agents(1, config, 1, 0) == []


def test_perplexities_known_answer():
    corpus, each = perplexities(Flat(2.0), ["a b", "", "c"])
    assert corpus == pytest.approx(math.exp(2.0))
    assert each == pytest.approx([math.exp(2.0), None, math.exp(2.0)])
    assert np.isnan(perplexities(Flat(2.0), [])[0])


def test_grouped_perplexities_equal_one_call_per_group(monkeypatch):
    english = [f"the cat sat on the mat number {i}" for i in range(40)]
    tok = SharedTokenizer.train(english, 300, 1)
    lm = NGramLM(tok, order=3)
    lm.fit(english[:20])
    groups = [english[20:27], [], english[27:28], ["zzz qq"] + english[28:40]]
    each = repr([perplexities(lm, g) for g in groups])
    assert repr(grouped_perplexities(lm, groups)) == each
    monkeypatch.setattr(model_based, "SCORE_TEXTS", 5)  # calls of about 5 texts
    assert repr(grouped_perplexities(lm, groups)) == each
    calls = []

    class Counting(Flat):
        def score(self, texts):
            calls.append(len(texts))
            return super().score(texts)

    fake = [["a b", "c"], ["d"]]
    assert grouped_perplexities(Counting(1.0), fake) == [perplexities(Flat(1.0), g) for g in fake]
    assert calls == [2, 1], "a model scored in padded batches keeps one call per group"


def test_ancestor_quantiles_known_answer():
    got = ancestor_quantiles([10.0, None, 20.0, 30.0, 40.0, 50.0])
    assert got["ancestor_ppl_q50"] == pytest.approx(30.0)
    assert got["ancestor_ppl_q10"] == pytest.approx(14.0)
    assert np.isnan(ancestor_quantiles([None, np.inf])["ancestor_ppl_q90"])


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
