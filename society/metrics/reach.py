"""Hops from each word's origin to its farthest user: breadth-first searches that stop early.

``InnovationTracker`` reports a neologism's ``reach``: the hops from the node of its first
speaker to the farthest node that uses it this round (-1 if a user is unreachable). One
full search per origin costs ``origins x (nodes + edges)``, which grows as the square of
the population. Here each origin's search stops as soon as all users of its words are
found, so it costs the ball around the origin that holds them, never more than the full
search: the same integers (tested against ``scipy.sparse.csgraph.shortest_path``).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def farthest_hops(
    indptr: np.ndarray,
    indices: np.ndarray,
    sources: np.ndarray,
    user_ptr: np.ndarray,
    users: np.ndarray,
) -> np.ndarray:
    """Per word: the largest hop count from ``sources[w]`` to its users.

    Words are grouped by origin: one search per distinct origin node, stopped once every
    user of every word from that origin is found (never more than a whole-graph search).

    Args:
        indptr: CSR row pointers of the (symmetric) adjacency of the graph's nodes.
        indices: CSR column indices of that adjacency.
        sources: each word's origin node position (-1: not in the graph).
        user_ptr: word ``w``'s users are ``users[user_ptr[w]:user_ptr[w + 1]]``.
        users: node positions of the users (-1: not in the graph).

    Returns:
        float64 hops per word: NaN where the origin is not in the graph, -1 where a user
        is outside the graph or unreachable.
    """
    n = len(indptr) - 1
    out = np.full(len(sources), np.nan)
    seen = np.full(n, -1, dtype=np.int64)
    target = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    by_source = np.argsort(sources, kind="mergesort")
    lo = 0
    while lo < len(by_source):
        source = sources[by_source[lo]]
        hi = lo
        while hi < len(by_source) and sources[by_source[hi]] == source:
            hi += 1
        if source >= 0:
            remaining = 0
            for k in range(lo, hi):
                w = by_source[k]
                for j in range(user_ptr[w], user_ptr[w + 1]):
                    u = users[j]
                    if u >= 0 and target[u] != source:
                        target[u] = source
                        remaining += 1
            head, tail = 0, 1
            queue[0] = source
            seen[source] = source
            depth[source] = 0
            while head < tail and remaining > 0:
                node = queue[head]
                head += 1
                if target[node] == source:
                    remaining -= 1
                for e in range(indptr[node], indptr[node + 1]):
                    nxt = indices[e]
                    if seen[nxt] != source:
                        seen[nxt] = source
                        depth[nxt] = depth[node] + 1
                        queue[tail] = nxt
                        tail += 1
            for k in range(lo, hi):
                w = by_source[k]
                far = 0
                for j in range(user_ptr[w], user_ptr[w + 1]):
                    u = users[j]
                    if u < 0 or seen[u] != source:
                        far = -1
                        break
                    far = max(far, depth[u])
                out[w] = float(far)
        lo = hi
    return out
