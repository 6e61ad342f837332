import numpy as np
import pytest

from society.metrics.measures.lexical import TEXT_COLUMNS
from society.metrics.measures.means import (
    BasicMeans,
    SuiteMeans,
    TailMassRatio,
    finite_mean,
    nan_mean,
)
from society.metrics.registry import Results
from tests.records import agent, given, record, setup


def test_the_two_averages():
    assert nan_mean([1.0, np.nan, 3.0]) == 2.0 and np.isnan(nan_mean([]))
    assert finite_mean([1.0, None, np.inf, 3.0]) == 2.0
    assert np.isnan(finite_mean([None, np.nan]))


def test_basic_means_average_the_agent_columns():
    rec = record([agent(i, ["a"]) for i in range(3)])
    columns = {"perplexity": [1.0, np.nan, 5.0]} | {c: [0.0, 1.0, 2.0] for c in TEXT_COLUMNS}
    out = BasicMeans(setup()).measure(rec, given(rec, agent=columns)).round
    assert out["perplexity"] == 3.0 and out["distinct_1"] == 1.0
    assert list(out) == ["perplexity", *TEXT_COLUMNS]


def test_suite_means_drop_missing_and_infinite_values():
    rec = record([agent(i, ["a"]) for i in range(3)])
    columns = {c: [1.0, 2.0, 3.0] for c in SuiteMeans.columns.round}
    columns["ancestor_ppl"] = [2.0, np.inf, 4.0]
    columns["self_bleu"] = [np.nan, np.nan, 0.5]
    out = SuiteMeans(setup()).measure(rec, given(rec, agent=columns)).round
    assert out["zipf"] == 2.0 and out["ancestor_ppl"] == 3.0 and out["self_bleu"] == 0.5


def test_tail_mass_ratio_keeps_the_first_finite_round_as_baseline():
    ratio = TailMassRatio(setup())
    rec = record([agent(1, ["a"])])
    values = []
    for tail in (np.nan, 0.2, 0.1, 0.3):
        values.append(ratio.measure(rec, given(rec, round_={"tail_mass": tail})).round)
    got = [v["tail_mass_ratio"] for v in values]
    assert np.isnan(got[0]) and got[1:] == pytest.approx([1.0, 0.5, 1.5])
    assert ratio.baseline == 0.2


def test_means_need_the_columns_measured_before_them():
    rec = record([agent(1, ["a"])])
    with pytest.raises(KeyError):
        BasicMeans(setup()).measure(rec, Results(rec))
