import dataclasses

import networkx as nx
import numpy as np
import pytest

from society.metrics.record import AUTO_ALL_PAIRS, AgentRecord, RoundRecord, select_pairs
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
