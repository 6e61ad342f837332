import dataclasses

import networkx as nx
import numpy as np
import pytest

from society.metrics.record import (
    AUTO_ALL_PAIRS,
    AgentRecord,
    RoundRecord,
    sample_pairs,
    select_pairs,
)
from tests.records import Flat, agent, record


def test_agent_record_tokenises_once_and_is_frozen():
    a = AgentRecord.of(
        id=3, node=7, community=1, texts=["The cat, sat!", ""], heard=5, kept=2, model=Flat()
    )
    assert a.texts == ("The cat, sat!", "")
    assert a.docs == (("the", "cat", "sat"), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.kept = 3  # type: ignore[misc]


def test_round_record_views_the_graph_read_only():
    graph = nx.path_graph(3)
    rec = record([agent(i, ["a"]) for i in range(3)], graph=graph)
    with pytest.raises(nx.NetworkXError):
        rec.graph.add_edge(0, 2)
    graph.add_edge(0, 2)  # a view, not a copy
    assert rec.graph.has_edge(0, 2)
    assert rec.ids == [0, 1, 2] and rec.communities == [0, 0, 0]
    assert not rec.pairs.flags.writeable


def test_pairs_all_edges_auto_none():
    graph = nx.Graph([(10, 12), (12, 11)])
    nodes = [10, 11, 12]
    np.testing.assert_array_equal(select_pairs(graph, nodes, "all"), [[0, 1], [0, 2], [1, 2]])
    np.testing.assert_array_equal(select_pairs(graph, nodes, "edges"), [[0, 2], [1, 2]])
    np.testing.assert_array_equal(select_pairs(graph, nodes, "auto"), [[0, 1], [0, 2], [1, 2]])
    assert select_pairs(graph, nodes, "none") is None
    assert select_pairs(graph, [10], "all") is None


def test_auto_falls_back_to_edges_beyond_the_limit():
    n = AUTO_ALL_PAIRS + 1
    graph = nx.path_graph(n)
    assert len(select_pairs(graph, list(range(n)), "auto")) == n - 1


def test_record_of_keeps_the_society_order():
    rec = RoundRecord.of(4, 9, [agent(5, ["x"]), agent(2, ["y"])], nx.path_graph([5, 2]), "all")
    assert rec.ids == [5, 2] and rec.round == 4 and rec.last == 9
    assert rec.docs == [(("x",),), (("y",),)]


def test_all_pairs_up_to_exact_agents_then_a_seeded_sample_of_as_many():
    graph = nx.path_graph(30)
    nodes = list(range(30))
    rng = np.random.default_rng(0)
    exact = select_pairs(graph, nodes, "all", exact_agents=30, rng=rng)
    np.testing.assert_array_equal(exact, select_pairs(graph, nodes, "all"))
    sampled = select_pairs(graph, nodes, "all", exact_agents=10, rng=np.random.default_rng(1))
    assert len(sampled) == 45 and len(np.unique(sampled, axis=0)) == 45
    assert (sampled[:, 0] < sampled[:, 1]).all() and sampled.max() < 30
    again = select_pairs(graph, nodes, "all", exact_agents=10, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(sampled, again)
    assert len(select_pairs(graph, nodes, "edges", exact_agents=10, rng=rng)) == 29  # unchanged


def test_sampled_pairs_are_uniform_over_all_pairs():
    counts = np.zeros((12, 12))
    for seed in range(400):
        i, j = sample_pairs(12, 6, np.random.default_rng(seed)).T
        np.add.at(counts, (i, j), 1)
    upper = counts[np.triu_indices(12, k=1)]  # each pair expected 400 * 6 / 66 = 36.4 times
    assert upper.min() > 15 and upper.max() < 60


def test_a_round_record_samples_pairs_from_the_scenario_seed_and_round():
    agents = [agent(i, ["x"]) for i in range(8)]
    graph = nx.complete_graph(8)
    first = RoundRecord.of(1, 9, agents, graph, "all", exact_agents=4, seed=3)
    same = RoundRecord.of(1, 9, agents, graph, "all", exact_agents=4, seed=3)
    other = RoundRecord.of(2, 9, agents, graph, "all", exact_agents=4, seed=3)
    assert len(first.pairs) == 6
    np.testing.assert_array_equal(first.pairs, same.pairs)
    assert not np.array_equal(first.pairs, other.pairs)
