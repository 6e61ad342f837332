import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from society.metrics.dialects import (
    characteristic_expressions,
    classical_mds,
    cluster_dialects,
    dialect_ari,
    dialect_test,
    distance_matrix,
    first_appearance,
    log_odds_dirichlet,
    mantel,
    permutation_p,
    shuffle_null,
    silhouette,
    within_between_index,
)


def planted(seed: int, sizes=(5, 6, 4), spread=0.1) -> tuple[np.ndarray, np.ndarray]:
    """Distances between points around well-separated centres, and the planted groups."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 5.0], [4.0, 4.0]])[: len(sizes)]
    groups = np.repeat(np.arange(len(sizes)), sizes)
    points = centres[groups] + rng.normal(0, spread, (len(groups), 2))
    order = rng.permutation(len(groups))
    points, groups = points[order], groups[order]
    return cdist(points, points), groups


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_dialects_recovers_planted_groups(seed):
    d, groups = planted(seed)
    labels = cluster_dialects(d)
    assert dialect_ari(labels, groups) == 1.0
    assert labels[0] == 0
    assert list(labels) == list(first_appearance(labels))


def test_cluster_dialects_two_groups():
    d, groups = planted(3, sizes=(4, 4))
    labels = cluster_dialects(d)
    assert len(np.unique(labels)) == 2
    assert dialect_ari(labels, groups) == 1.0


def test_cluster_dialects_degenerate_inputs():
    assert list(cluster_dialects(np.zeros((0, 0)))) == []
    assert list(cluster_dialects(np.zeros((2, 2)))) == [0, 0]
    equal = np.ones((5, 5)) - np.eye(5)
    assert list(cluster_dialects(equal)) == [0] * 5


def test_cluster_dialects_unstructured_is_one_dialect():
    # high-dimensional noise around one centre, like agents sampling the same language
    for seed in range(4):
        points = np.random.default_rng(seed).normal(size=(30, 50))
        assert len(np.unique(cluster_dialects(cdist(points, points)))) == 1


def test_cluster_dialects_max_k_and_nan():
    d, _ = planted(0)
    assert len(np.unique(cluster_dialects(d, max_k=2))) == 2
    d[0, 1] = d[1, 0] = np.nan
    labels = cluster_dialects(d)
    assert len(labels) == len(d)
    with pytest.raises(ValueError):
        cluster_dialects(np.zeros((2, 3)))


def test_cluster_dialects_is_deterministic():
    d, _ = planted(5)
    assert np.array_equal(cluster_dialects(d), cluster_dialects(d.copy()))


def test_first_appearance():
    assert list(first_appearance([7, 7, 3, 9, 3])) == [0, 0, 1, 2, 1]


def test_distance_matrix_from_pairs():
    pairs = pd.DataFrame({"agent_i": [10, 10, 11], "agent_j": [11, 12, 12], "jsd": [0.1, 0.2, 0.3]})
    d = distance_matrix(pairs, [12, 11, 10], "jsd")
    expected = np.array([[0.0, 0.3, 0.2], [0.3, 0.0, 0.1], [0.2, 0.1, 0.0]])
    assert np.allclose(d, expected)
    partial = distance_matrix(pairs.iloc[:1], [10, 11, 12, 99], "jsd")
    assert partial[0, 1] == 0.1 and np.isnan(partial[0, 2]) and np.isnan(partial[3, 0])
    assert np.all(np.diag(partial) == 0)


def test_dialect_ari_known_values():
    assert dialect_ari([0, 0, 1, 1], [5, 5, 3, 3]) == 1.0
    assert dialect_ari([0, 1, 0, 1], [0, 0, 1, 1]) < 0


@pytest.mark.parametrize("seed", range(6))
def test_dialect_ari_is_scikit_learns_float(seed):
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    dialects = rng.integers(0, int(rng.integers(1, 6)), n) * 7 - 3  # any labels
    communities = rng.integers(0, int(rng.integers(1, 9)), n)
    if seed == 0:  # a partition refined by the other
        dialects = communities // 2
    expected = adjusted_rand_score(communities, dialects)
    assert dialect_ari(dialects, communities) == expected  # bit for bit
    assert dialect_ari([], []) == adjusted_rand_score([], []) == 1.0
    assert dialect_ari([4] * 5, list(range(5))) == adjusted_rand_score(range(5), [4] * 5)


def test_within_between_index_known_answer():
    d = np.array([[0, 1, 4, 4], [1, 0, 4, 4], [4, 4, 0, 1], [4, 4, 1, 0]], dtype=float)
    out = within_between_index(d, [0, 0, 1, 1])
    assert out == {"within": 1.0, "between": 4.0, "index": 0.75}
    assert np.isnan(within_between_index(d, [0, 0, 0, 0])["index"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mantel_detects_planted_and_not_absent_correlation(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(20, 2))
    x = cdist(points, points)
    noise = rng.normal(0, 0.3, x.shape)
    y = x + (noise + noise.T) / 2
    np.fill_diagonal(y, 0)
    r, p = mantel(x, y, permutations=199, seed=seed)
    assert r > 0.8 and p <= 0.01
    other = rng.normal(size=(20, 2))
    r0, p0 = mantel(x, cdist(other, other), permutations=199, seed=seed)
    assert abs(r0) < 0.3 and p0 > 0.05


def test_mantel_seeded_infinite_and_degenerate():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(10, 2))
    x = cdist(points, points)
    assert mantel(x, x, permutations=50, seed=1) == mantel(x, x, permutations=50, seed=1)
    y = x.copy()
    y[0, :] = y[:, 0] = np.inf
    y[0, 0] = 0
    r, _ = mantel(x, y, permutations=50)
    assert r == pytest.approx(1.0)
    assert np.isnan(mantel(x[:2, :2], x[:2, :2])[0])
    assert mantel(x, x, method="spearman", permutations=20)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        mantel(x, x[:3, :3])


def test_log_odds_dirichlet_known_answer():
    a, b, prior = np.array([10.0, 0.0]), np.array([0.0, 10.0]), np.array([1.0, 1.0])
    z = log_odds_dirichlet(a, b, prior)
    delta = np.log(11 / 1) - np.log(1 / 11)
    assert z[0] == pytest.approx(delta / np.sqrt(1 / 11 + 1 / 1))
    assert z[1] == pytest.approx(-z[0])
    assert np.allclose(log_odds_dirichlet(a, a, prior), 0)
    with pytest.raises(ValueError):
        log_odds_dirichlet(a, b, np.array([0.0, 1.0]))


def test_characteristic_expressions_finds_marker_words():
    vocab = ["the", "thee", "you", "and"]
    counts = np.array(
        [[20, 9, 0, 10], [20, 11, 1, 10], [20, 0, 10, 10], [20, 1, 9, 10]], dtype=float
    )
    table = characteristic_expressions(counts, vocab, [0, 0, 1, 1], top=2)
    top = table[table["rank"] == 1].set_index("dialect")["expression"].to_dict()
    assert top == {0: "thee", 1: "you"}
    assert (table["z"] > 1.96).all()
    assert "the" not in set(table["expression"])
    assert characteristic_expressions(counts, vocab, [0, 0, 0, 0]).empty
    tuples = characteristic_expressions(counts, [("a", "b")] * 4, [0, 0, 1, 1])
    assert set(tuples["expression"]) == {"a b"}


def test_classical_mds_recovers_euclidean_distances():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(8, 2))
    d = cdist(points, points)
    coords = classical_mds(d)
    assert coords.shape == (8, 2)
    assert np.allclose(cdist(coords, coords), d, atol=1e-8)
    assert np.array_equal(coords, classical_mds(d))
    assert np.all(np.abs(coords).max(axis=0) == coords.max(axis=0))
    assert classical_mds(np.zeros((1, 1))).shape == (1, 2)
    assert np.all(classical_mds(np.zeros((3, 3))) == 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_silhouette_is_scikit_learns(seed):
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    points = rng.normal(size=(15, 3))
    labels = rng.integers(0, 4, 15)
    labels[0] = 9  # a one-agent cluster scores 0
    d = cdist(points, points)
    assert silhouette(d, labels) == pytest.approx(silhouette_score(d, labels, metric="precomputed"))


def test_permutation_p_counts_the_observed_as_one_draw():
    assert permutation_p(0.5, np.array([0.1, 0.6, 0.5, 0.2])) == pytest.approx(3 / 5)
    assert permutation_p(0.9, np.array([0.1, np.nan])) == pytest.approx(1 / 3)
    assert np.isnan(permutation_p(np.nan, np.array([0.1])))


LANGUAGE_A = [("alpha", "beta", "gamma"), ("beta", "gamma", "delta"), ("gamma", "alpha", "delta")]
LANGUAGE_B = [("xray", "yankee", "zulu"), ("yankee", "zulu", "whisky"), ("zulu", "xray", "whisky")]


def one_language(seed: int, agents: int = 6, texts: int = 12) -> list:
    rng = np.random.default_rng(seed)
    pool = LANGUAGE_A + LANGUAGE_B
    return [[pool[k] for k in rng.integers(0, len(pool), texts)] for _ in range(agents)]


def test_dialect_test_rejects_planted_dialects_with_the_smallest_p():
    docs = [LANGUAGE_A * 4] * 3 + [LANGUAGE_B * 4] * 3
    observed, p = dialect_test(docs, 1, 99, np.random.default_rng(0))
    assert observed > 0.9 and p == pytest.approx(1 / 100)


def test_dialect_test_stops_early_when_the_answer_is_no():
    docs = one_language(0)
    observed, p = dialect_test(docs, 1, 99, np.random.default_rng(1), stop_after=5)
    null = shuffle_null(docs, 1, 99, np.random.default_rng(1))
    reached = np.cumsum(null >= observed - 1e-12)
    made = int(np.searchsorted(reached, 5)) + 1
    assert made < 99 and p == pytest.approx(5 / made)
    full = dialect_test(docs, 1, 99, np.random.default_rng(1), stop_after=0)[1]
    assert full == pytest.approx(permutation_p(observed, null)) and full >= 0.05


def test_shuffle_null_keeps_each_agents_number_of_texts():
    docs = [LANGUAGE_A * 2, LANGUAGE_B * 4, LANGUAGE_A]
    a = shuffle_null(docs, 1, 5, np.random.default_rng(3))
    b = shuffle_null(docs, 1, 5, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5,)
