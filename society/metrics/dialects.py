"""Dialects: clusters of agents that speak alike, and how they relate to the network.

Pure functions over a distance matrix between agents (e.g. Jensen-Shannon divergence of
their word distributions, see ``society.metrics.divergence``); they know nothing of agents
or Mesa.

- ``distance_matrix``: the symmetric matrix from one round of a pairs table.
- ``cluster_dialects``: average-linkage hierarchical clustering (scipy), the number of
  dialects chosen by the mean silhouette (scikit-learn); ``dialect_test`` compares the
  best silhouette with those of texts dealt at random among the agents (``shuffle_null``,
  ``permutation_p``); ``assign_nearest`` extends a sample's dialects to all.
- ``dialect_ari``: adjusted Rand index of dialects against network communities.
- ``within_between_index``: ``1 - mean within-group distance / mean between-group
  distance``, an F_ST-like separation index (0: groups no more alike inside than across).
- ``mantel``: Mantel test of linguistic distance against network (shortest-path)
  distance, with a seeded permutation p-value.
- ``log_odds_dirichlet`` / ``characteristic_expressions``: words or n-grams that mark a
  dialect, by the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi &
  Quinn 2008, "Fightin' words"), z-scored.
- ``classical_mds``: coordinates for a dialect map (Torgerson scaling, scikit-learn).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.spatial.distance import squareform

#: Below this mean silhouette the best split is not trusted and everyone is one dialect.
#: Kaufman & Rousseeuw (1990) read < 0.25 as "no substantial structure"; we are a little
#: more permissive because sampling noise puts a floor under within-dialect divergence.
MIN_SILHOUETTE = 0.15
#: Deals of the dialect test made at once (one sparse product each batch).
BATCH = 10
#: The dialect test stops once this many deals reach the observed silhouette.
STOP_AFTER = 10


def distance_matrix(pairs_df: pd.DataFrame, agent_ids: Sequence[int], column: str) -> np.ndarray:
    """Symmetric agent-by-agent matrix of one pair measure.

    Args:
        pairs_df: one round of a pairs table with ``agent_i``, ``agent_j`` and ``column``
            (extra rows naming agents outside ``agent_ids`` are ignored).
        agent_ids: the agents, in the order of the matrix rows.
        column: the pair measure, e.g. ``"jsd_unigram"``.

    Returns:
        An ``(n, n)`` float matrix with a zero diagonal; pairs absent from the table are NaN.

    Raises:
        KeyError: if ``column`` (or ``agent_i``/``agent_j``) is not in the table.
    """
    ids = np.asarray(agent_ids)
    n = len(ids)
    out = np.full((n, n), np.nan)
    np.fill_diagonal(out, 0.0)
    if n == 0 or pairs_df.empty:
        return out
    position = pd.Series(np.arange(n), index=ids)
    i = position.reindex(pairs_df["agent_i"].to_numpy()).to_numpy()
    j = position.reindex(pairs_df["agent_j"].to_numpy()).to_numpy()
    values = pairs_df[column].to_numpy(dtype=float)
    ok = ~(np.isnan(i) | np.isnan(j))
    i, j, values = i[ok].astype(int), j[ok].astype(int), values[ok]
    out[i, j] = values
    out[j, i] = values
    np.fill_diagonal(out, 0.0)
    return out


def _clean(distance: np.ndarray) -> np.ndarray:
    """Square, symmetric, finite, non-negative, zero diagonal (NaN -> largest distance)."""
    d = np.asarray(distance, dtype=float)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"distance must be a square matrix, got shape {d.shape}")
    d = (d + d.T) / 2
    finite = d[np.isfinite(d)]
    fill = float(finite.max()) if finite.size else 0.0
    d = np.where(np.isfinite(d), d, fill)
    d = np.clip(d, 0.0, None)
    np.fill_diagonal(d, 0.0)
    return d


def first_appearance(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Renumber labels 0, 1, 2, ... in order of first appearance."""
    codes, _ = pd.factorize(pd.Series(np.asarray(labels)), sort=False)
    return np.asarray(codes, dtype=np.int64)


def silhouette(distance: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Mean silhouette of a labelling of a precomputed distance matrix.

    The same number as ``sklearn.metrics.silhouette_score(metric="precomputed")``
    (a member of a one-agent cluster scores 0), computed with one matrix product so that
    the dialect test can afford it for every cut of every relabelled copy.

    Args:
        distance: ``(n, n)`` symmetric distances with a zero diagonal.
        labels: cluster of each agent (at least 2 distinct, fewer than ``n``).

    Returns:
        The mean over agents of ``(b - a) / max(a, b)``.
    """
    codes = np.unique(np.asarray(labels), return_inverse=True)[1].ravel()
    onehot = np.eye(codes.max() + 1)[codes]
    sizes = onehot.sum(axis=0)
    sums = distance @ onehot  # (n, k): total distance of each agent to each cluster
    own = sizes[codes] - 1
    a = np.divide(sums[np.arange(len(codes)), codes], own, out=np.zeros(len(codes)), where=own > 0)
    mean_to = sums / sizes
    mean_to[np.arange(len(codes)), codes] = np.inf
    b = mean_to.min(axis=1)
    top = np.maximum(a, b)
    s = np.divide(b - a, top, out=np.zeros(len(codes)), where=top > 0)
    return float(np.where(own > 0, s, 0.0).mean())


def best_cut(distance: np.ndarray, max_k: int = 8) -> tuple[np.ndarray, float]:
    """The best cut of the average-linkage tree by mean silhouette.

    Average linkage (UPGMA) on the condensed matrix; the tree is cut at each
    ``k = 2 .. min(max_k, n - 1)`` clusters and the cut with the highest mean silhouette
    wins (the smaller ``k`` on ties). Deterministic: no randomness is involved.

    Args:
        distance: ``(n, n)`` symmetric distances (NaN entries count as the largest
            distance present).
        max_k: the most clusters considered.

    Returns:
        ``(labels, silhouette)``: labels numbered by first appearance and the cut's mean
        silhouette; one cluster and NaN with fewer than 3 agents or all distances equal.

    Raises:
        ValueError: if ``distance`` is not square.
    """
    d = _clean(distance)
    n = d.shape[0]
    single = np.zeros(n, dtype=np.int64)
    off = d[~np.eye(n, dtype=bool)]
    if n < 3 or np.ptp(off) <= 1e-12:
        return single, float("nan")
    tree = linkage(squareform(d, checks=False), method="average")
    best, best_score = single, float("nan")
    ks = list(range(2, min(max_k, n - 1) + 1))
    cuts = cut_tree(tree, n_clusters=ks).T if ks else []  # one row per k
    for labels in cuts:
        if len(np.unique(labels)) < 2:
            continue
        score = silhouette(d, labels)
        if not score <= best_score + 1e-12:  # also true while best_score is NaN
            best, best_score = labels, score
    return first_appearance(best), best_score


def cluster_dialects(
    distance: np.ndarray, max_k: int = 8, min_silhouette: float = MIN_SILHOUETTE
) -> np.ndarray:
    """Group agents into dialects by hierarchical clustering of their distances.

    The best cut of the average-linkage tree (``best_cut``) is accepted if its mean
    silhouette reaches ``min_silhouette``; otherwise everyone speaks one dialect.
    The measurement suite accepts a split by a permutation test instead (``dialect_test``),
    because sampling noise puts a floor under the divergence of any two agents and so
    moves the silhouettes of real and absent dialects alike.

    Args:
        distance: ``(n, n)`` symmetric distances (NaN entries count as the largest
            distance present).
        max_k: the most dialects considered.
        min_silhouette: the mean silhouette a split needs to be accepted.

    Returns:
        ``n`` integer labels ``0 .. k-1`` numbered in order of first appearance (agent 0
        is always in dialect 0). Fewer than 3 agents, or all distances equal, give a
        single dialect.

    Raises:
        ValueError: if ``distance`` is not square.
    """
    labels, score = best_cut(distance, max_k)
    if not score >= min_silhouette:
        return np.zeros(len(labels), dtype=np.int64)
    return labels


def shuffle_null(
    docs: Sequence[Sequence[Sequence[str]]],
    order: int,
    draws: int,
    rng: np.random.Generator,
    max_k: int = 8,
) -> np.ndarray:
    """Best-cut silhouettes when nobody has a dialect: texts dealt out at random.

    All agents' texts are pooled, shuffled and dealt back in the same numbers per agent,
    so every agent samples one common language; the JSD matrix of n-gram distributions
    is clustered like the real one (``best_cut``).

    Args:
        docs: each agent's tokenised texts.
        order: n-gram order of the divergence (1: words, 2: bigrams).
        draws: number of deals.
        rng: the generator of the deals (the measure's own).
        max_k: as in ``best_cut``.

    Returns:
        ``draws`` silhouettes (NaN where a deal leaves nothing to cluster).
    """
    from society.metrics.divergence import jsd_matrix, ngram_count_matrix

    per_text = ngram_count_matrix([[text] for doc in docs for text in doc], order)
    n = len(docs)
    owner = np.repeat(np.arange(n), [len(doc) for doc in docs])
    deals = np.stack([rng.permutation(len(owner)) for _ in range(draws)])  # (draws, texts)
    dealt = sparse.csr_matrix(  # row b * n + a: agent a's pile in deal b
        (np.ones(deals.size), ((np.arange(draws)[:, None] * n + owner).ravel(), deals.ravel())),
        shape=(draws * n, len(owner)),
    )
    i, j = np.triu_indices(n, k=1)
    offset = (np.arange(draws) * n)[:, None]
    pairs = np.column_stack([(offset + i).ravel(), (offset + j).ravel()])
    values = jsd_matrix(dealt @ per_text, pairs).reshape(draws, len(i))
    out = np.full(draws, np.nan)
    for b in range(draws):
        matrix = np.zeros((n, n))
        matrix[i, j] = matrix[j, i] = values[b]
        out[b] = best_cut(matrix, max_k)[1]
    return out


def permutation_p(observed: float, null: np.ndarray) -> float:
    """One-sided permutation p-value: ``(1 + #{null >= observed}) / (1 + len(null))``.

    The observed statistic counts as one of the draws, so the p-value is never 0 and,
    when the observed data are exchangeable with the draws, ``P(p <= a) <= a``. A NaN
    draw counts as below the observed value; a NaN observed value gives NaN.

    Args:
        observed: the statistic of the data.
        null: the statistic of each relabelled copy.

    Returns:
        The p-value in ``(0, 1]``, or NaN.
    """
    null = np.asarray(null, dtype=float)
    if not np.isfinite(observed):
        return float("nan")
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))


def dialect_test(
    docs: Sequence[Sequence[Sequence[str]]],
    order: int,
    draws: int,
    rng: np.random.Generator,
    max_k: int = 8,
    stop_after: int = STOP_AFTER,
) -> tuple[float, float]:
    """Is there dialect structure? Best silhouette of the JSD matrix vs text deals.

    The statistic is the best mean silhouette over ``k = 2 .. max_k`` (``best_cut``) of
    the agents' raw n-gram JSD matrix; its null distribution comes from deals of the
    pooled texts among the agents at the same sizes (``shuffle_null``). The raw
    divergence is used on both sides: a sampling floor shifts the observed and every
    null silhouette alike, and the excess of a dealt society is noise around 0, where
    silhouettes are unstable.

    Deals are made in batches and stop early once ``stop_after`` null silhouettes reach
    the observed one (Besag & Clifford 1991): then ``p = stop_after / deals made``, which
    is at least ``stop_after / draws``, else ``permutation_p`` over all ``draws``. Both are
    valid p-values; stopping early only saves time where the answer is already "no".

    Args:
        docs: each agent's tokenised texts.
        order: n-gram order.
        draws: most deals (>= 1).
        rng: the generator of the deals.
        max_k: most dialects considered.
        stop_after: exceedances after which the deals stop (0: never stop early).

    Returns:
        ``(silhouette, p)``: the observed best silhouette and its p-value (both NaN with
        fewer than 3 agents or nothing to cluster).
    """
    from society.metrics.divergence import jsd_matrix, ngram_count_matrix

    observed = best_cut(jsd_matrix(ngram_count_matrix(docs, order)), max_k)[1]
    if not np.isfinite(observed):
        return float("nan"), float("nan")
    null = np.empty(0)
    while len(null) < draws:
        batch = shuffle_null(docs, order, min(BATCH, draws - len(null)), rng, max_k)
        null = np.concatenate([null, batch])
        reached = np.cumsum(null >= observed - 1e-12)
        if stop_after and reached[-1] >= stop_after:
            made = int(np.searchsorted(reached, stop_after)) + 1
            return observed, stop_after / made
    return observed, permutation_p(observed, null)


def assign_nearest(
    counts: sparse.spmatrix | np.ndarray, sample: Sequence[int], sample_labels: Sequence[int]
) -> np.ndarray:
    """Extend a clustering of some agents to all: each joins the closest dialect.

    Used when there are too many agents to cluster directly: a sample is clustered and
    every other agent joins the dialect whose pooled distribution is nearest in
    Jensen-Shannon divergence (agents with no words join dialect 0's label of the sample).

    Args:
        counts: ``(n, V)`` counts of each agent's words.
        sample: positions of the clustered agents.
        sample_labels: their dialects.

    Returns:
        ``n`` labels numbered by first appearance; sampled agents keep their grouping.
    """
    from society.metrics.divergence import jsd_matrix

    counts = sparse.csr_matrix(counts, dtype=float)
    n = counts.shape[0]
    sample, sample_labels = np.asarray(sample, dtype=int), np.asarray(sample_labels)
    groups = np.unique(sample_labels)
    member = sparse.csr_matrix(
        (np.ones(len(sample)), (np.searchsorted(groups, sample_labels), sample)),
        shape=(len(groups), n),
    )
    stacked = sparse.vstack([counts, member @ counts]).tocsr()
    i, g = np.meshgrid(np.arange(n), np.arange(len(groups)), indexing="ij")
    pairs = np.column_stack([i.ravel(), n + g.ravel()])
    jsd = np.nan_to_num(jsd_matrix(stacked, pairs), nan=np.inf).reshape(n, len(groups))
    labels = groups[np.argmin(jsd, axis=1)]
    labels[sample] = sample_labels
    return first_appearance(labels)


def dialect_ari(dialects: Sequence[int], communities: Sequence[int]) -> float:
    """Adjusted Rand index of dialects against communities (1: identical partitions).

    ``sklearn.metrics.adjusted_rand_score(communities, dialects)``, the same float (tested):
    its pair-confusion counts are integers, computed here from the contingency table
    without importing scikit-learn (half a second of a run's start).

    Args:
        dialects: dialect label of each agent.
        communities: community of each agent, aligned.

    Returns:
        The ARI: 1 for the same partition up to renaming, about 0 for unrelated ones.
    """
    _, true = np.unique(np.asarray(communities), return_inverse=True)
    _, pred = np.unique(np.asarray(dialects), return_inverse=True)
    n = len(true)
    if n == 0:
        return 1.0
    rows, cols = int(true.max()) + 1, int(pred.max()) + 1
    cells = np.bincount(true.ravel() * cols + pred.ravel(), minlength=rows * cols)
    table = cells.reshape(rows, cols).astype(np.int64)
    per_true, per_pred = table.sum(axis=1), table.sum(axis=0)
    squares = int((table**2).sum())
    both = squares - n  # ordered pairs together in both partitions
    pred_only = int((table @ per_pred).sum()) - squares
    true_only = int((table.T @ per_true).sum()) - squares
    neither = n * n - pred_only - true_only - squares
    if pred_only == 0 and true_only == 0:
        return 1.0
    return (
        2.0
        * (both * neither - true_only * pred_only)
        / ((both + true_only) * (true_only + neither) + (both + pred_only) * (pred_only + neither))
    )


def within_between_index(distance: np.ndarray, groups: Sequence[int]) -> dict[str, float]:
    """Mean distance within and between groups, and ``index = 1 - within / between``.

    Like F_ST: 0 when groups are no more alike inside than across, towards 1 as groups
    become internally uniform and distinct. NaN distances are ignored.

    Args:
        distance: ``(n, n)`` distances.
        groups: group of each agent (dialects or communities).

    Returns:
        ``within``, ``between`` and ``index`` (each NaN when undefined, e.g. one group).
    """
    d = np.asarray(distance, dtype=float)
    g = np.asarray(groups)
    i, j = np.triu_indices(len(g), k=1)
    values = d[i, j]
    same = g[i] == g[j]
    ok = np.isfinite(values)
    within = float(values[same & ok].mean()) if (same & ok).any() else float("nan")
    between = float(values[~same & ok].mean()) if (~same & ok).any() else float("nan")
    defined = np.isfinite(within) and np.isfinite(between) and between > 0
    return {
        "within": within,
        "between": between,
        "index": 1.0 - within / between if defined else float("nan"),
    }


def mantel(
    x: np.ndarray,
    y: np.ndarray,
    permutations: int = 999,
    seed: int = 0,
    method: str = "pearson",
) -> tuple[float, float]:
    """Mantel test: correlation of two distance matrices, one-sided permutation p-value.

    Rows and columns of ``y`` are permuted together; pairs where either matrix is not
    finite (e.g. an infinite shortest path between disconnected agents) are left out.

    Args:
        x: ``(n, n)`` distances, e.g. linguistic.
        y: ``(n, n)`` distances, e.g. shortest-path length on the graph.
        permutations: number of random permutations.
        seed: seed of the permutation generator (results are reproducible).
        method: ``"pearson"`` or ``"spearman"`` (ranks of the finite pairs).

    Returns:
        ``(r, p)``: the observed correlation and ``(1 + #{r_perm >= r}) / (1 + permutations)``
        (testing for a positive association). ``(nan, nan)`` with fewer than 3 agents or
        constant distances.

    Raises:
        ValueError: if the shapes differ or ``method`` is unknown.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 2 or x.shape[0] != x.shape[1]:
        raise ValueError(f"x and y must be square and of equal shape: {x.shape}, {y.shape}")
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    n = x.shape[0]
    if n < 3:
        return float("nan"), float("nan")
    i, j = np.triu_indices(n, k=1)
    rng = np.random.default_rng(seed)
    orders = [np.arange(n)] + [rng.permutation(n) for _ in range(permutations)]
    perm = np.stack(orders)  # (permutations + 1, n); row 0 is the identity
    xs = np.broadcast_to(x[i, j], (len(perm), len(i)))
    ys = y[perm[:, i], perm[:, j]]
    ok = np.isfinite(xs) & np.isfinite(ys)
    r = _masked_corr(xs, ys, ok, spearman=method == "spearman")
    if not np.isfinite(r[0]):
        return float("nan"), float("nan")
    p = (1 + np.sum(r[1:] >= r[0] - 1e-12)) / (1 + permutations)
    return float(r[0]), float(p)


def _masked_corr(xs: np.ndarray, ys: np.ndarray, ok: np.ndarray, spearman: bool) -> np.ndarray:
    """Row-wise correlation over the entries where ``ok`` holds."""
    out = np.full(len(xs), np.nan)
    for row in range(len(xs)):
        a, b = xs[row, ok[row]], ys[row, ok[row]]
        if spearman:
            a, b = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
        if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
            continue
        out[row] = np.corrcoef(a, b)[0, 1]
    return out


def log_odds_dirichlet(counts_a: np.ndarray, counts_b: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Z-scored log-odds ratio with an informative Dirichlet prior (Monroe et al. 2008).

    For each word ``w`` with counts ``y_a``, ``y_b`` (totals ``n_a``, ``n_b``) and prior
    pseudo-counts ``alpha_w`` (total ``alpha_0``)::

        delta_w = log((y_a + alpha_w) / (n_a + alpha_0 - y_a - alpha_w))
                - log((y_b + alpha_w) / (n_b + alpha_0 - y_b - alpha_w))
        z_w = delta_w / sqrt(1 / (y_a + alpha_w) + 1 / (y_b + alpha_w))

    Args:
        counts_a: counts of each word in group a.
        counts_b: counts of each word in group b (same vocabulary).
        prior: Dirichlet pseudo-counts per word (all > 0), e.g. background counts.

    Returns:
        ``z_w`` per word: large positive values mark words typical of group a.

    Raises:
        ValueError: if the shapes differ or a prior count is not positive.
    """
    ya, yb, alpha = (np.asarray(v, dtype=float) for v in (counts_a, counts_b, prior))
    if not (ya.shape == yb.shape == alpha.shape):
        raise ValueError(f"shapes differ: {ya.shape}, {yb.shape}, {alpha.shape}")
    if alpha.size and alpha.min() <= 0:
        raise ValueError("prior pseudo-counts must be positive")
    a0, na, nb = alpha.sum(), ya.sum(), yb.sum()
    delta = np.log((ya + alpha) / (na + a0 - ya - alpha)) - np.log(
        (yb + alpha) / (nb + a0 - yb - alpha)
    )
    variance = 1.0 / (ya + alpha) + 1.0 / (yb + alpha)
    return delta / np.sqrt(variance)


def characteristic_expressions(
    counts: sparse.spmatrix | np.ndarray,
    vocab: Sequence[object],
    labels: Sequence[int],
    top: int = 10,
    prior: np.ndarray | None = None,
    prior_scale: float = 1.0,
    min_z: float = 1.96,
) -> pd.DataFrame:
    """The expressions most typical of each dialect against all the others.

    Args:
        counts: ``(agents, V)`` counts of each expression (e.g. from
            ``divergence.ngram_counts``).
        vocab: the expression of each column (a word, or a tuple of words).
        labels: dialect of each agent.
        top: expressions kept per dialect.
        prior: background counts per column for the Dirichlet prior (default: the pooled
            counts of all agents); ``+ 0.01`` is added so every prior count is positive.
        prior_scale: multiplies the prior (its strength in pseudo-counts).
        min_z: only expressions with ``z`` above this are kept (1.96: 5% two-sided).

    Returns:
        A DataFrame with ``dialect``, ``rank`` (1 = most typical), ``expression`` (words
        joined by spaces), ``z`` and ``count`` (in the dialect), at most ``top`` rows per
        dialect, only expressions with ``z > min_z``. Empty with fewer than two dialects.
    """
    labels = np.asarray(labels)
    counts = sparse.csr_matrix(counts, dtype=float)
    groups = np.unique(labels)
    columns = ["dialect", "rank", "expression", "z", "count"]
    if len(groups) < 2 or counts.shape[1] == 0:
        return pd.DataFrame(columns=columns)
    member = sparse.csr_matrix(
        (np.ones(len(labels)), (np.searchsorted(groups, labels), np.arange(len(labels)))),
        shape=(len(groups), len(labels)),
    )
    by_group = np.asarray((member @ counts).todense())
    total = by_group.sum(axis=0)
    background = total if prior is None else np.asarray(prior, dtype=float)
    alpha = prior_scale * background + 0.01
    names = [" ".join(v) if isinstance(v, tuple) else str(v) for v in vocab]
    rows = []
    for g, group in enumerate(groups):
        z = log_odds_dirichlet(by_group[g], total - by_group[g], alpha)
        order = np.argsort(-z, kind="stable")[:top]
        for rank, col in enumerate(c for c in order if z[c] > min_z):
            rows.append((int(group), rank + 1, names[col], float(z[col]), int(by_group[g, col])))
    return pd.DataFrame(rows, columns=columns)


def classical_mds(distance: np.ndarray, dims: int = 2) -> np.ndarray:
    """Classical (Torgerson) multidimensional scaling of a distance matrix.

    Signs are fixed so that each axis's largest-magnitude coordinate is positive, which
    makes the map deterministic.

    Args:
        distance: ``(n, n)`` distances (NaN counts as the largest distance present).
        dims: number of coordinates per agent.

    Returns:
        ``(n, dims)`` coordinates whose Euclidean distances approximate ``distance``;
        axes beyond the rank of the data (or with ``n <= dims``) are zero.
    """
    d = _clean(distance)
    n = d.shape[0]
    out = np.zeros((n, dims))
    if n < 2 or np.ptp(d) == 0:
        return out
    from sklearn.manifold import ClassicalMDS

    k = min(dims, n - 1)
    coords = ClassicalMDS(n_components=k, metric="precomputed").fit_transform(d)
    coords = np.nan_to_num(np.asarray(coords, dtype=float))
    biggest = coords[np.argmax(np.abs(coords), axis=0), np.arange(k)]
    coords *= np.where(biggest < 0, -1.0, 1.0)
    out[:, :k] = coords
    return out
