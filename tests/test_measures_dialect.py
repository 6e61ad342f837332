import networkx as nx
import numpy as np
import pandas as pd
import pytest

from society.metrics.divergence import pair_table
from society.metrics.measures.dialect import DIALECT_COLUMNS, EXPRESSION_COLUMNS, Dialects, hops
from tests.records import agent, given, record, setup

GROUP_A = ["alpha beta gamma", "beta gamma delta", "gamma alpha delta"] * 4
GROUP_B = ["xray yankee zulu", "yankee zulu whisky", "zulu xray whisky"] * 4


def planted(n_per_group: int = 4, **config):
    agents = [agent(i, GROUP_A, community=0) for i in range(n_per_group)]
    agents += [agent(n_per_group + i, GROUP_B, community=1) for i in range(n_per_group)]
    graph = nx.Graph()
    graph.add_nodes_from(range(2 * n_per_group))
    graph.add_edges_from(nx.complete_graph(range(n_per_group)).edges)
    graph.add_edges_from(nx.complete_graph(range(n_per_group, 2 * n_per_group)).edges)
    rec = record(agents, graph=graph)
    pairs = pair_table(rec.ids, rec.communities, rec.docs, rec.pairs)
    return rec, given(rec, pair=pairs), setup(mantel_permutations=19, **config)


def test_two_planted_groups_are_two_dialects():
    rec, before, run = planted()
    measure = Dialects(run)
    rows = measure.measure(rec, before)
    labels = [row["dialect"] for row in rows.agent]
    assert labels == [0, 0, 0, 0, 1, 1, 1, 1]
    out = rows.round
    assert list(out) == list(DIALECT_COLUMNS)
    assert out["dialects"] == 2 and out["dialect_ari"] == pytest.approx(1.0)
    assert out["dialect_index"] > 0.9
    assert out["dialect_silhouette"] > out["dialect_null_silhouette"]
    assert out["mantel_r"] > 0.9 and out["mantel_p"] == pytest.approx(1 / 20)
    table = measure.tables()["expressions"]
    assert list(table.columns) == list(EXPRESSION_COLUMNS)
    assert set(table["dialect"]) == {0, 1} and (table["agents"] == 4).all()


def test_one_language_is_one_dialect():
    agents = [agent(i, GROUP_A, community=i % 2) for i in range(6)]
    rec = record(agents)
    pairs = pair_table(rec.ids, rec.communities, rec.docs, rec.pairs)
    measure = Dialects(setup())
    rows = measure.measure(rec, given(rec, pair=pairs))
    assert {row["dialect"] for row in rows.agent} == {0}
    assert rows.round["dialects"] == 1
    assert measure.tables()["expressions"].empty  # no split, no expressions


def test_a_sample_is_clustered_and_the_rest_join_the_nearest_dialect():
    rec, before, run = planted(n_per_group=5, dialect_agents=4, dialect_null=0)
    rows = Dialects(run).measure(rec, before)
    labels = np.array([row["dialect"] for row in rows.agent])
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1
    assert labels[0] != labels[5]


def test_without_pairs_dialects_use_the_agents_words():
    rec, _, run = planted()
    rec_no_pairs = record(list(rec.agents), graph=nx.Graph(rec.graph), pairs="none")
    rows = Dialects(run).measure(rec_no_pairs, given(rec_no_pairs))
    assert rows.round["dialects"] == 2


def test_hops_treat_unreachable_as_one_beyond_the_farthest():
    graph = nx.Graph([(0, 1), (1, 2), (3, 4)])
    assert hops(graph, [0, 2, 3]).tolist() == [[0, 2, 3], [2, 0, 3], [3, 3, 0]]


def test_no_agents_no_dialects():
    rec = record([], graph=nx.Graph())
    rows = Dialects(setup()).measure(rec, given(rec))
    assert list(rows.agent) == [] and all(np.isnan(v) for v in rows.round.values())
    assert isinstance(Dialects(setup()).tables()["expressions"], pd.DataFrame)
