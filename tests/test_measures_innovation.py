import networkx as nx

from society.metrics.measures.innovation import Innovations
from society.metrics.registry import Results
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
