import networkx as nx
import numpy as np
import pandas as pd
import pytest

from society.metrics.divergence import within_between, within_between_se
from society.metrics.measures.pairs import CrossEntropy, DivergenceSummary, PairDivergence
from society.metrics.record import RoundRecord
from tests.records import Flat, agent, given, measure, record, setup


class Knows:
    """A fake model: a word it knows costs 1 nat, any other 3."""

    def __init__(self, *words: str) -> None:
        self.words = set(words)

    def score(self, texts):
        cost = [sum(1.0 if w in self.words else 3.0 for w in t.split()) for t in texts]
        return -np.array(cost), np.array([len(t.split()) for t in texts], dtype=float)


def test_jsd_of_identical_docs_is_zero_and_of_disjoint_docs_one_bit():
    rec = record(
        [
            agent(1, ["a b a"], community=0),
            agent(2, ["a b a"], community=0),
            agent(3, ["x y"], community=1),
        ]
    )
    rows = measure(PairDivergence, rec, setup()).pair
    assert rows[["agent_i", "agent_j"]].values.tolist() == [[1, 2], [1, 3], [2, 3]]
    assert rows["same_community"].tolist() == [True, False, False]
    assert rows["jsd_unigram"].tolist() == pytest.approx([0.0, 1.0, 1.0])
    assert rows["jsd_bigram"].tolist() == pytest.approx([0.0, 1.0, 1.0])


def test_only_the_records_pairs_are_compared():
    graph_pairs = record([agent(1, ["a"]), agent(2, ["b"])], pairs="none")
    assert measure(PairDivergence, graph_pairs, setup()).pair is None
    assert measure(CrossEntropy, graph_pairs, setup()).pair is None


def test_cross_entropy_divergence_known_answer():
    rec = record([agent(1, ["a a"], model=Knows("a")), agent(2, ["b b"], model=Knows("b"))])
    (value,) = measure(CrossEntropy, rec, setup()).pair["cross_entropy_div"]
    assert value == pytest.approx(((3 - 1) + (3 - 1)) / 2)


def test_cross_entropy_only_among_the_chosen_agents():
    rec = record([agent(i + 1, [f"w{i} x y", "x y"], model=Flat(1.0 + i)) for i in range(4)])
    values = measure(CrossEntropy, rec, setup(cross_texts=2, cross_agents=3)).pair
    measured = values["cross_entropy_div"].notna()
    assert measured.sum() == 3  # the pairs among 3 of 4 agents
    np.testing.assert_allclose(values.loc[measured, "cross_entropy_div"], 0.0, atol=1e-12)
    off = measure(CrossEntropy, rec, setup(cross_texts=0)).pair
    assert off["cross_entropy_div"].isna().all()


def test_summary_within_between_and_index():
    rec = record([agent(i, ["a"]) for i in range(3)])
    pairs = pd.DataFrame(
        {
            "same_community": [True, False, False],
            "jsd_unigram": [0.2, 0.8, 0.6],
            "jsd_bigram": [np.nan, np.nan, np.nan],
        }
    )
    out = measure(DivergenceSummary, rec, setup(), given(rec, pair=pairs)).round
    assert out["jsd_unigram_within"] == pytest.approx(0.2)
    assert out["jsd_unigram_between"] == pytest.approx(0.7)
    assert out["jsd_unigram_index"] == pytest.approx(1 - 0.2 / 0.7)
    assert np.isnan(out["jsd_bigram_index"])
    assert np.isnan(out["cross_entropy_div_within"])  # no such column yet


def test_summary_without_pairs_is_nan():
    rec = record([agent(1, ["a"]), agent(2, ["b"])], pairs="none")
    out = measure(DivergenceSummary, rec, setup()).round
    assert len(out) == 15 and all(np.isnan(v) for v in out.values())


def speaker(rng: np.random.Generator, words: list[str], texts: int = 40) -> list[str]:
    return [" ".join(rng.choice(words, size=6)) for _ in range(texts)]


def test_excess_is_about_zero_for_one_language_and_large_for_two():
    rng = np.random.default_rng(0)
    same = [f"w{k}" for k in range(60)]
    other = [f"v{k}" for k in range(60)]
    speakers = [agent(i, speaker(rng, same, 30)) for i in range(6)]
    rec = record([*speakers, agent(6, speaker(rng, other, 30), community=1)])
    rows = measure(PairDivergence, rec, setup(divergence_null=10)).pair
    one = rows[rows["same_community"]]  # the 15 pairs that speak one language
    assert one["jsd_unigram"].mean() > 0.1 and one["jsd_bigram"].mean() > 0.5
    assert abs(one["jsd_unigram_excess"].mean()) < 0.02
    assert abs(one["jsd_bigram_excess"].mean()) < 0.02
    assert (rows.loc[~rows["same_community"], "jsd_unigram_excess"] > 0.5).all()
    off = measure(PairDivergence, rec, setup(divergence_null=0)).pair
    assert off[["jsd_unigram_excess", "jsd_bigram_excess"]].isna().all().all()
    assert off["jsd_unigram"].tolist() == rows["jsd_unigram"].tolist()


def test_excess_draws_from_its_own_generator_by_seed_and_round():
    rng = np.random.default_rng(1)
    words = [f"w{k}" for k in range(20)]
    agents = [agent(i, speaker(rng, words, 10)) for i in range(3)]

    def excess(seed, round_):
        rows = measure(PairDivergence, record(agents, round_=round_), setup(seed=seed)).pair
        return rows["jsd_bigram_excess"].tolist()

    assert excess(0, 1) == excess(0, 1)
    assert excess(0, 1) != excess(0, 2) and excess(0, 1) != excess(1, 1)


def test_summary_of_the_excess_columns():
    rec = record([agent(i, ["a"]) for i in range(3)])
    pairs = pd.DataFrame(
        {
            "same_community": [True, False, False],
            "jsd_unigram_excess": [0.01, 0.3, 0.5],
            "jsd_bigram_excess": [0.01, -0.02, 0.0],
        }
    )
    out = measure(DivergenceSummary, rec, setup(), given(rec, pair=pairs)).round
    assert out["jsd_unigram_excess_index"] == pytest.approx(1 - 0.01 / 0.4)
    assert np.isnan(out["jsd_bigram_excess_index"])  # between not above 0: undefined


def _dialect_society(seed: int, n: int = 60) -> list:
    """``n`` agents in 3 communities; each community favours its own words."""
    rng = np.random.default_rng(seed)
    shared = ["the", "cat", "sat", "on", "mat", "dog"]
    own = [["a", "b", "c"], ["x", "y", "z"], ["p", "q", "r"]]
    agents = []
    for i in range(n):
        c = i % 3
        words = shared + own[c] * 2
        texts = [" ".join(rng.choice(words, size=8)) for _ in range(int(rng.integers(3, 8)))]
        agents.append(agent(i, texts, community=c))
    return agents


@pytest.mark.validation
def test_sampled_within_between_means_lie_within_their_stated_error():
    """Pairs sampled above ``exact_agents`` estimate the within/between means.

    Criterion fixed before running: for 5 scenario seeds, 60 agents, ``exact_agents = 20``
    (190 of 1,770 pairs), both means of ``jsd_unigram`` are within 3 standard errors
    (``within_between_se``) of the exact means over every pair; below the size the record
    holds every pair, so they are equal.
    """
    agents = _dialect_society(11)
    graph = nx.complete_graph(len(agents))
    run = setup(divergence_null=0)
    exact = measure(PairDivergence, record(agents, graph=graph), run).pair
    truth = within_between(exact, "jsd_unigram")
    communities = [a.community for a in agents]
    for seed in range(5):
        rec = RoundRecord.of(1, 9, agents, graph, "all", exact_agents=20, seed=seed)
        sampled = measure(PairDivergence, rec, run).pair
        assert len(sampled) == 190
        estimate = within_between(sampled, "jsd_unigram")
        se = within_between_se(sampled, "jsd_unigram", communities)
        for part in ("within", "between"):
            assert se[part] > 0 and abs(estimate[part] - truth[part]) <= 3 * se[part], (seed, part)
    whole = RoundRecord.of(1, 9, agents, graph, "all", exact_agents=60, seed=0)
    pd.testing.assert_frame_equal(measure(PairDivergence, whole, run).pair, exact)
