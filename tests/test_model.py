import networkx as nx
import numpy as np
import pandas as pd
import pytest

from society.metrics.suite import AGENT_COLUMNS, ROUND_COLUMNS
from society.sim.model import Society


def run(society: Society) -> Society:
    for _ in range(society.rounds):
        society.step()
    return society


def test_defaults_run():
    society = Society(rounds=1, speech_utterances=10, real_data_max_texts=600)
    society.step()
    assert society.round == 1
    assert not society.running
    assert len(society.agents) == 8


def test_tables_have_one_row_per_round_and_agent(small):
    society = run(Society(small))
    agents = society.agent_table()
    rounds = society.round_table()
    assert list(rounds["round"]) == [0, 1, 2, 3]
    assert tuple(rounds.columns) == ROUND_COLUMNS
    assert len(agents) == 4 * 6
    assert tuple(agents.columns) == AGENT_COLUMNS
    assert agents["perplexity"].notna().all()
    pairs = society.pair_table()
    assert len(pairs) == 4 * 15  # all pairs of 6 agents, every round


def test_same_seed_same_tables_other_seed_differs(small):
    a, b = run(Society(small)), run(Society(small))
    pd.testing.assert_frame_equal(a.agent_table(), b.agent_table())
    pd.testing.assert_frame_equal(a.round_table(), b.round_table())
    pd.testing.assert_frame_equal(a.pair_table(), b.pair_table())
    c = run(Society(small, seed=small.seed + 1))
    assert not c.round_table()["perplexity"].equals(a.round_table()["perplexity"])


def test_agents_never_hear_themselves_unless_asked(small):
    society = Society(small)
    society.step()
    for agent in society.agents:
        speakers = {s for s, _ in agent.heard}
        assert agent.unique_id not in speakers
        neighbours = {a.unique_id for a in agent.cell.neighborhood.agents}
        assert speakers <= neighbours
    selfish = Society(small, listening_include_self=True, listening_self_weight=50.0)
    selfish.step()
    agent = next(iter(selfish.agents))
    own = sum(s == agent.unique_id for s, _ in agent.heard)
    assert own > len(agent.heard) / 2


def test_listening_follows_edge_weights(small):
    society = Society(small, network_kind="complete", network_agents=3, speech_utterances=200)
    society.graph.edges[0, 1]["weight"] = 9.0
    society.graph.edges[0, 2]["weight"] = 1.0
    society.step()
    agent = next(a for a in society.agents if a.node == 0)
    by_node = {a.unique_id: a.node for a in society.agents}
    share = np.mean([by_node[s] == 1 for s, _ in agent.heard])
    # 200 of 400 texts drawn without replacement, 9:1 by weight: the share from node 1 is
    # 0.825 on average; 99.8% of draws fall in [0.765, 0.885] (2,000 simulated draws)
    assert 0.75 < share < 0.9


def test_real_fraction_sets_the_share_of_real_text(small):
    society = Society(small, real_data_fraction=0.4)
    society.step()
    heldout = set(society.corpus.heldout)
    for agent in society.agents:
        real = [t for (s, _), t in zip(agent.heard, agent.heard_texts, strict=True) if s == -1]
        assert len(real) == 12  # 0.4 * 30
        assert not heldout & set(real)


@pytest.mark.parametrize(("data", "expected"), [("replace", 1), ("accumulate", 4), ("window", 2)])
def test_buffers(small, data, expected):
    society = run(Society(small, learning_data=data, learning_window=2))
    agent = next(iter(society.agents))
    assert len(agent.buffer) == expected
    if data != "accumulate":
        assert society.corpus.train[0] not in [t for texts in agent.buffer for t in texts]


def test_ancestor_init_learns_from_the_ancestor(small):
    society = Society(small, learning_init="ancestor", language_model_memory=0.5)
    society.step()
    agent = next(iter(society.agents))
    expected = society.ancestor.clone()
    expected.update(agent.buffer[-1])
    heldout = society.heldout
    np.testing.assert_allclose(agent.lm.score(heldout)[0], expected.score(heldout)[0])


def test_an_agent_with_no_one_to_hear_does_not_learn(small):
    society = Society(small)
    node = next(iter(society.graph.nodes))
    for other in list(society.graph.neighbors(node)):
        society.space.remove_connection(society.space[node], society.space[other])
    agent = next(a for a in society.agents if a.node == node)
    before = agent.lm.score(society.heldout)[0]
    society.step()
    assert agent.heard == []
    np.testing.assert_array_equal(agent.lm.score(society.heldout)[0], before)


def test_isolate_event_cuts_bridges_in_graph_and_space(small):
    scenario = small.with_overrides({"events": [{"round": 2, "action": "isolate_communities"}]})
    society = Society(scenario)
    society.step()
    assert nx.is_connected(society.graph)
    society.step()
    assert nx.number_connected_components(society.graph) == 2
    for agent in society.agents:
        assert {a.community for a in agent.cell.neighborhood.agents} == {agent.community}
    assert society.event_log[0]["round"] == 2


def test_samples_log_heard_and_kept(small):
    society = Society(small)
    society.step()
    rows = society.pop_samples()
    assert len(rows) == 6 * 30
    assert {r["round"] for r in rows} == {0}
    assert sum(r["heard"] for r in rows) == sum(len(a.heard) for a in society.agents)
    assert all(r["kept"] <= r["heard"] for r in rows)
    society.log_samples(final=True)
    assert {r["round"] for r in society.pop_samples()} == {1}
