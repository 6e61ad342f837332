import math

import pytest

from society.metrics.measures.perplexity import HeldoutPerplexity
from tests.records import Flat, agent, measure, record, setup


def test_heldout_perplexity_is_exp_of_the_cost_per_word():
    rec = record([agent(1, ["x"], model=Flat(1.0)), agent(2, ["y"], model=Flat(2.5))])
    rows = measure(HeldoutPerplexity, rec, setup(heldout_texts=2))
    assert [r["perplexity"] for r in rows.agent] == pytest.approx([math.e, math.exp(2.5)])


def test_heldout_perplexity_scores_only_the_first_heldout_texts():
    seen = []

    class Spy(Flat):
        def score(self, texts):
            seen.append(list(texts))
            return super().score(texts)

    measure(HeldoutPerplexity, record([agent(1, ["x"], model=Spy())]), setup(heldout_texts=2))
    assert seen == [["the cat ran", "a dog sat on the tree"]]


def test_heldout_perplexity_scores_a_population_together_where_the_backend_can():
    calls = []

    class Together(Flat):
        @staticmethod
        def score_together(models, texts):
            calls.append(len(models))
            return [model.score(t) for model, t in zip(models, texts, strict=True)]

    rec = record([agent(1, ["x"], model=Together(1.0)), agent(2, ["y"], model=Together(2.0))])
    rows = measure(HeldoutPerplexity, rec, setup(heldout_texts=2))
    assert calls == [2]  # one call for both agents
    assert [r["perplexity"] for r in rows.agent] == pytest.approx([math.e, math.exp(2.0)])
