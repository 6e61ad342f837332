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
