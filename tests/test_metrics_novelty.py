from collections import Counter

import networkx as nx
import numpy as np

from society.metrics.novelty import (
    INNOVATION_COLUMNS,
    InnovationTracker,
    neologisms,
    novel_share,
    real_ngrams,
)

REAL = [["the", "lord", "said"], ["the", "lord", "spake"]]


def test_novel_share_known_answer():
    seen = real_ngrams(REAL, 2)
    assert seen == {("the", "lord"), ("lord", "said"), ("lord", "spake")}
    sample = [["the", "lord", "sang"], ["lord", "said"]]  # bigrams: 3, one novel
    assert novel_share(sample, seen, 2) == 1 / 3
    assert novel_share(REAL, seen, 2) == 0.0
    assert np.isnan(novel_share([["x"]], seen, 2))


def test_neologisms_are_words_outside_the_real_vocabulary():
    vocabulary = frozenset({"the", "lord", "said"})
    assert neologisms(Counter({"the": 3, "lordy": 2, "x": 1}), vocabulary) == {"lordy": 2, "x": 1}


def test_tracker_records_origin_adoption_and_reach():
    graph = nx.path_graph(4)  # 0 - 1 - 2 - 3
    tracker = InnovationTracker(min_agents=2)
    r0 = tracker.update(
        0, [(10, 0, 0, Counter({"zork": 1})), (11, 1, 0, Counter({"solo": 4}))], graph
    )
    assert r0 == {"neologisms_new": 2, "neologisms_alive": 2, "neologisms_shared": 0}
    assert tracker.table().empty  # nothing used by two agents yet
    r1 = tracker.update(
        1,
        [(11, 1, 0, Counter({"zork": 2})), (13, 3, 1, Counter({"zork": 1, "solo": 1}))],
        graph,
    )
    assert r1 == {"neologisms_new": 0, "neologisms_alive": 2, "neologisms_shared": 1}
    tracker.update(2, [(12, 2, 1, Counter({"zork": 1}))], graph)
    table = tracker.table()
    assert list(table.columns) == list(INNOVATION_COLUMNS)
    zork = table[table["word"] == "zork"].set_index("round")
    assert list(zork.index) == [1, 2]  # kept once shared, then followed without gaps
    assert zork.loc[1, "agents"] == 2 and zork.loc[1, "uses"] == 3
    assert zork.loc[1, "communities"] == 2
    assert zork.loc[1, "reach"] == 3  # origin node 0, farthest user at node 3
    assert zork.loc[2, "reach"] == 2
    assert (zork["first_round"] == 0).all() and (zork["first_agent"] == 10).all()
    assert "solo" not in set(table["word"])


def test_tracker_unreachable_users_have_reach_minus_one():
    graph = nx.Graph([(0, 1), (2, 3)])
    tracker = InnovationTracker(min_agents=1)
    tracker.update(0, [(1, 0, 0, Counter({"w": 1})), (2, 3, 1, Counter({"w": 1}))], graph)
    assert tracker.table()["reach"].tolist() == [-1.0]
