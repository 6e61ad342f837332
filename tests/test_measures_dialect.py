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
    assert out["dialect_p"] == pytest.approx(1 / 100)  # no deal of 99 reaches it
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


def test_the_switch_clusters_raw_values_and_without_a_test_a_fixed_threshold_decides():
    rec, before, run = planted()
    excess = Dialects(run).measure(rec, before).round
    raw = Dialects(setup(mantel_permutations=19, dialect_values="raw")).measure(rec, before).round
    assert excess["dialects"] == raw["dialects"] == 2
    assert raw["dialect_index"] == pytest.approx(1.0)  # raw JSD within the groups is 0
    assert excess["dialect_index"] > 1.0  # the excess within is below chance (identical texts)
    fixed = Dialects(setup(dialect_null=0)).measure(rec, before).round
    assert fixed["dialects"] == 2 and np.isnan(fixed["dialect_p"])


def test_one_language_has_a_large_p_and_one_dialect():
    rng = np.random.default_rng(0)
    pool = GROUP_A + GROUP_B
    agents = [agent(i, [pool[k] for k in rng.integers(0, len(pool), 12)]) for i in range(8)]
    rec = record(agents, pairs="none")
    out = Dialects(setup()).measure(rec, given(rec)).round
    assert out["dialects"] == 1 and out["dialect_p"] >= 0.05


def test_measuring_never_draws_from_the_societys_generator(small):
    from society.sim.model import Society

    society = Society(small.with_overrides({"rounds": 1}))
    state = society.rng.bit_generator.state
    random_state = society.random.getstate()
    results = society.measures.measure(society.round_record())
    assert results.pairs["jsd_bigram_excess"].notna().all()
    assert results.round["dialect_p"] > 0
    assert society.rng.bit_generator.state == state
    assert society.random.getstate() == random_state
