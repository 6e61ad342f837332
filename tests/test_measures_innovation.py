import networkx as nx
import pandas as pd
import pytest

from society.metrics.measures.innovation import Innovations, reference_usage
from society.metrics.novelty import InnovationTracker
from society.metrics.registry import Results
from tests.population import random_agents
from tests.records import agent, record, setup


def test_a_new_word_is_counted_once_and_followed_as_it_spreads():
    graph = nx.path_graph(3)
    measure = Innovations(setup(innovation_min_agents=2))
    first = record(
        [agent(0, ["the zzz"]), agent(1, ["the cat"]), agent(2, ["qqq"])], 0, graph=graph
    )
    assert measure.measure(first, Results(first)).round == {
        "neologisms_new": 2,
        "neologisms_alive": 2,
        "neologisms_shared": 0,
    }
    second = record([agent(0, ["zzz"]), agent(1, ["zzz"]), agent(2, ["zzz zzz"])], 1, graph=graph)
    assert measure.measure(second, Results(second)).round == {
        "neologisms_new": 0,
        "neologisms_alive": 1,
        "neologisms_shared": 1,
    }
    table = measure.tables()["innovations"]
    (row,) = table.to_dict("records")  # "zzz" reached two agents only in round 1
    assert (row["round"], row["word"], row["uses"], row["agents"]) == (1, "zzz", 4, 3)
    assert (row["first_round"], row["first_agent"], row["reach"]) == (0, 0, 2.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_tracking_equals_the_per_agent_tracker(seed):
    run = setup(innovation_min_agents=2)
    graph = nx.path_graph(30)
    graph.remove_edge(28, 29)  # agent 29 is cut off: words it uses have reach -1
    vectorised, reference = Innovations(run), InnovationTracker(2)
    for round_ in range(4):
        rec = record(random_agents(seed * 10 + round_, extra=8), round_, graph=graph, pairs="none")
        got = vectorised.measure(rec, Results(rec)).round
        want = reference.update(round_, reference_usage(rec, run.reference.vocabulary), graph)
        assert dict(got) == want
    table = vectorised.tables()["innovations"]
    pd.testing.assert_frame_equal(table, reference.table())
    assert (table["reach"] == -1).any() and (table["reach"] > 0).any()


def test_vectorised_tracking_without_a_graph_has_no_reach():
    tracker = InnovationTracker(1)
    rec = record(random_agents(3, extra=4), pairs="none")
    counts = rec.counts
    outside = [i for i, w in enumerate(counts.words) if w.startswith("n")]
    agents = (rec.ids, [a.node for a in rec.agents], rec.communities)
    tracker.update_counts(0, agents, counts.counts[1][:, outside], counts.words[outside])
    assert len(tracker.rows) and tracker.table()["reach"].isna().all()
