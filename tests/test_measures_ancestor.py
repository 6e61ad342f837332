import math

import numpy as np
import pytest

from society.metrics.measures.ancestor import UTTERANCES, AncestorPerplexity, AncestorQuantiles
from tests.records import Flat, agent, given, measure, record, setup


def test_the_ancestor_scores_each_agents_first_texts():
    rec = record([agent(1, ["a b", "", "c", "d e f"]), agent(2, [])])
    rows = measure(AncestorPerplexity, rec, setup(ancestor=Flat(2.0), ancestor_texts=3))
    first, silent = rows.agent
    assert first["ancestor_ppl"] == pytest.approx(math.exp(2.0))
    assert np.isnan(silent["ancestor_ppl"])
    each, none = rows.utterances[UTTERANCES]
    assert each == pytest.approx([math.exp(2.0), None, math.exp(2.0)])  # 3 texts, "" has no token
    assert list(none) == []


def test_quantiles_of_the_per_utterance_perplexities():
    rec = record([agent(1, ["a"]), agent(2, ["b"])])
    before = given(rec, utterances={UTTERANCES: [[10.0, None, 20.0, 30.0, 40.0, 50.0], []]})
    first, unscored = measure(AncestorQuantiles, rec, setup(), before).agent
    assert first["ancestor_ppl_q50"] == pytest.approx(30.0)
    assert first["ancestor_ppl_q10"] == pytest.approx(14.0)
    assert first["ancestor_ppl_q90"] == pytest.approx(46.0)
    assert all(np.isnan(v) for v in unscored.values())


def test_quantiles_are_nan_when_the_ancestor_did_not_run():
    rec = record([agent(1, ["a"])])
    (row,) = measure(AncestorQuantiles, rec, setup()).agent
    assert all(np.isnan(v) for v in row.values())
