"""``reach.farthest_hops`` (early-stopping searches) against scipy's all-hops table."""

import networkx as nx
import numpy as np
import pytest
from scipy.sparse.csgraph import shortest_path

from society.metrics.reach import farthest_hops


def _reference(adjacency, sources, user_ptr, users):
    lengths = shortest_path(adjacency, directed=False, unweighted=True)
    out = []
    for w, source in enumerate(sources):
        mine = users[user_ptr[w] : user_ptr[w + 1]]
        if source < 0:
            out.append(np.nan)
        elif (mine < 0).any() or not np.isfinite(lengths[source, mine]).all():
            out.append(-1.0)
        else:
            out.append(float(lengths[source, mine].max(initial=0)))
    return np.array(out)


@pytest.mark.parametrize("seed", range(4))
def test_farthest_hops_equal_shortest_path_lengths(seed):
    rng = np.random.default_rng(seed)
    graph = nx.disjoint_union(
        nx.connected_watts_strogatz_graph(60, 4, 0.1, seed=seed), nx.path_graph(7)
    )
    adjacency = nx.to_scipy_sparse_array(graph, weight=None, format="csr")
    n, words = graph.number_of_nodes(), 200
    sizes = rng.integers(1, 6, words)
    sizes[:10] = rng.integers(30, n, 10)  # words most of the graph uses
    user_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    users = rng.integers(0, n, user_ptr[-1]).astype(np.int64)
    users[rng.random(len(users)) < 0.01] = -1  # a user outside the graph
    sources = rng.integers(0, n, words).astype(np.int64)
    sources[50:100] = sources[0]  # many words from one origin
    sources[rng.random(words) < 0.05] = -1  # an origin outside the graph
    got = farthest_hops(
        adjacency.indptr.astype(np.int64), adjacency.indices.astype(np.int64),
        sources, user_ptr, users,
    )  # fmt: skip
    want = _reference(adjacency, sources, user_ptr, users)
    np.testing.assert_array_equal(got, want)
    assert (want == -1).any() and np.isnan(want).any() and (want > 2).any()
