import math

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.spatial.distance import jensenshannon

from society.metrics.divergence import (
    jsd_matrix,
    ngram_count_matrix,
    ngram_counts,
    pair_table,
    within_between,
)

PAIR_COLUMNS = ["agent_i", "agent_j", "same_community", "jsd_unigram", "jsd_bigram"]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def random_doc(gen: np.random.Generator, vocab: list[str], texts: int, words: int) -> list:
    return [list(gen.choice(vocab, size=gen.integers(0, words + 1))) for _ in range(texts)]


def scipy_jsd(p: np.ndarray, q: np.ndarray) -> float:
    return float(jensenshannon(p, q, base=2) ** 2)


# --- count matrices -----------------------------------------------------------------------


def test_unigram_counts_hand_example():
    docs = [[["a", "b", "a"]], [["b"], ["c", "c"]], []]
    counts, vocab = ngram_counts(docs, 1)
    assert sparse.issparse(counts) and counts.format == "csr"
    assert vocab == [("a",), ("b",), ("c",)]
    assert counts.toarray().tolist() == [[2, 1, 0], [0, 1, 2], [0, 0, 0]]
    assert ngram_count_matrix(docs, 1).toarray().tolist() == counts.toarray().tolist()


def test_bigrams_do_not_cross_texts_or_documents():
    docs = [[["a", "b"], ["c", "d"]], [["e"]], [["b", "c", "a", "b"]]]
    counts, vocab = ngram_counts(docs, 2)
    table = {g: counts[:, k].toarray().ravel().tolist() for k, g in enumerate(vocab)}
    assert table == {
        ("a", "b"): [1, 0, 1],
        ("c", "d"): [1, 0, 0],
        ("b", "c"): [0, 0, 1],
        ("c", "a"): [0, 0, 1],
    }
    trigrams, tri_vocab = ngram_counts(docs, 3)
    assert tri_vocab == [("b", "c", "a"), ("c", "a", "b")]
    assert trigrams.toarray().tolist() == [[0, 0], [0, 0], [1, 1]]


def test_count_matrix_empty_and_invalid():
    assert ngram_count_matrix([[], [[]]], 1).shape == (2, 0)
    assert ngram_count_matrix([], 2).shape == (0, 0)
    counts, vocab = ngram_counts([[["a"], ["b"]]], 2)
    assert counts.shape == (1, 0) and vocab == []
    with pytest.raises(ValueError):
        ngram_count_matrix([[["a"]]], 0)


def test_counts_match_a_python_count():
    gen = rng(3)
    vocab = [f"w{i}" for i in range(30)]
    docs = [random_doc(gen, vocab, 5, 12) for _ in range(8)]
    counts, grams = ngram_counts(docs, 2)
    for r, doc in enumerate(docs):
        expected: dict = {}
        for text in doc:
            for g in zip(text, text[1:], strict=False):
                expected[tuple(g)] = expected.get(tuple(g), 0) + 1
        row = counts[r].toarray().ravel()
        got = {grams[k]: row[k] for k in np.flatnonzero(row)}
        assert got == expected


# --- Jensen-Shannon divergence -----------------------------------------------------------


def test_identical_documents_have_zero_divergence():
    doc = [["the", "cat", "sat"], ["the", "dog"]]
    counts = ngram_count_matrix([doc, doc, [t * 3 for t in doc]], 1)
    full = jsd_matrix(counts)
    assert np.allclose(full, 0.0, atol=1e-12)


def test_disjoint_documents_have_divergence_one():
    counts = ngram_count_matrix([[["a", "b", "b"]], [["c", "d"]], [["e"]]], 1)
    full = jsd_matrix(counts)
    expected = np.ones((3, 3)) - np.eye(3)
    assert np.allclose(full, expected, atol=1e-12)
    assert np.allclose(jsd_matrix(counts, np.array([[0, 1], [2, 0]])), [1.0, 1.0])


def test_hand_example_half_overlap():
    # P = (1/2, 1/2, 0), Q = (0, 1/2, 1/2): M = (1/4, 1/2, 1/4), H(M) = 1.5, H(P) = H(Q) = 1
    counts = sparse.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))
    assert jsd_matrix(counts, np.array([[0, 1]]))[0] == pytest.approx(0.5)


def test_full_matrix_matches_scipy_and_is_symmetric():
    gen = rng(0)
    vocab = [f"w{i}" for i in range(40)]
    docs = [random_doc(gen, vocab[: gen.integers(5, 40)], 6, 15) for _ in range(12)]
    for n in (1, 2):
        counts = ngram_count_matrix(docs, n)
        dense = counts.toarray()
        full = jsd_matrix(counts)
        assert full.shape == (12, 12)
        assert np.allclose(full, full.T)
        assert np.all(np.diag(full) == 0)
        assert np.all((full >= 0) & (full <= 1))
        for i in range(12):
            for j in range(12):
                if i != j:
                    assert full[i, j] == pytest.approx(scipy_jsd(dense[i], dense[j]), abs=1e-10)


def test_pairs_mode_matches_scipy_and_full_matrix():
    gen = rng(1)
    vocab = [f"w{i}" for i in range(25)]
    docs = [random_doc(gen, vocab, 4, 10) for _ in range(15)]
    counts = ngram_count_matrix(docs, 1)
    dense = counts.toarray()
    pairs = gen.integers(0, 15, size=(40, 2))
    values = jsd_matrix(counts, pairs)
    full = jsd_matrix(counts)
    assert values.shape == (40,)
    for (i, j), v in zip(pairs, values, strict=True):
        expected = 0.0 if i == j else scipy_jsd(dense[i], dense[j])
        assert v == pytest.approx(expected, abs=1e-10)
        assert v == pytest.approx(full[i, j], abs=1e-12)
    # order within a pair does not matter
    assert np.allclose(jsd_matrix(counts, pairs[:, ::-1]), values)


def test_pairs_mode_chunks_give_the_same_answer(monkeypatch):
    import society.metrics.divergence as divergence

    gen = rng(2)
    vocab = [f"w{i}" for i in range(50)]
    docs = [random_doc(gen, vocab, 5, 20) for _ in range(20)]
    counts = ngram_count_matrix(docs, 1)
    before = jsd_matrix(counts)
    monkeypatch.setattr(divergence, "CHUNK_NNZ", 7)
    assert np.allclose(jsd_matrix(counts), before, atol=1e-12)


def test_dense_input_and_unnormalised_rows():
    p = np.array([[3.0, 1.0, 0.0, 0.0], [0.3, 0.1, 0.0, 0.0], [0.0, 2.0, 2.0, 4.0]])
    full = jsd_matrix(p)
    assert full[0, 1] == pytest.approx(0.0, abs=1e-12)
    assert full[0, 2] == pytest.approx(scipy_jsd(p[0], p[2]), abs=1e-12)


def test_empty_row_gives_nan():
    counts = ngram_count_matrix([[["a", "b"]], [], [["a"]], [[]]], 1)
    full = jsd_matrix(counts)
    assert np.isnan(full[1]).all() and np.isnan(full[:, 1]).all()
    assert np.isnan(full[3]).all() and np.isnan(full[:, 3]).all()
    assert full[0, 2] == pytest.approx(scipy_jsd(np.array([1, 1]), np.array([1, 0])))
    assert full[0, 0] == 0.0
    values = jsd_matrix(counts, np.array([[0, 1], [0, 2], [3, 3]]))
    assert np.isnan(values[0]) and not np.isnan(values[1]) and np.isnan(values[2])


def test_invalid_pairs_are_rejected():
    counts = ngram_count_matrix([[["a"]], [["b"]]], 1)
    with pytest.raises(ValueError):
        jsd_matrix(counts, np.array([[0, 2]]))
    with pytest.raises(ValueError):
        jsd_matrix(counts, np.array([0, 1, 1]))
    assert jsd_matrix(counts, np.empty((0, 2), dtype=int)).shape == (0,)


# --- pair table and community summary -----------------------------------------------------


def planted_docs(gen: np.random.Generator, per_community: int = 4) -> tuple[list, list]:
    """Two communities drawing from vocabularies that overlap only in a few words."""
    shared = [f"s{i}" for i in range(5)]
    lexicons = [shared + [f"a{i}" for i in range(20)], shared + [f"b{i}" for i in range(20)]]
    docs, communities = [], []
    for c, lexicon in enumerate(lexicons):
        for _ in range(per_community):
            docs.append(random_doc(gen, lexicon, 10, 12))
            communities.append(c)
    return docs, communities


def test_pair_table_column_contract_all_pairs():
    gen = rng(4)
    docs, communities = planted_docs(gen)
    ids = [100 + k for k in range(len(docs))]
    table = pair_table(ids, communities, docs)
    assert list(table.columns) == PAIR_COLUMNS
    assert len(table) == 8 * 7 // 2
    assert table["same_community"].dtype == bool
    assert (table["agent_i"] < table["agent_j"]).all()
    assert not table.duplicated(["agent_i", "agent_j"]).any()
    assert table["same_community"].sum() == 2 * (4 * 3 // 2)
    for column in ("jsd_unigram", "jsd_bigram"):
        assert table[column].between(0, 1).all()
    unigrams = jsd_matrix(ngram_count_matrix(docs, 1))
    row = table[(table.agent_i == 101) & (table.agent_j == 105)].iloc[0]
    assert row.jsd_unigram == pytest.approx(unigrams[1, 5])
    assert not row.same_community


def test_pair_table_explicit_pairs_are_canonicalised():
    gen = rng(5)
    docs, communities = planted_docs(gen, per_community=2)
    ids = [7, 3, 9, 5]
    table = pair_table(ids, communities, docs, pairs=np.array([[2, 0], [0, 2], [1, 1], [0, 1]]))
    assert list(table.columns) == PAIR_COLUMNS
    # positions (0, 1) and (0, 2); the self-pair and the repeat are dropped
    assert table[["agent_i", "agent_j"]].to_numpy().tolist() == [[7, 3], [7, 9]]
    assert table["same_community"].tolist() == [True, False]
    empty = pair_table(ids, communities, docs, pairs=np.empty((0, 2), dtype=int))
    assert list(empty.columns) == PAIR_COLUMNS and len(empty) == 0


def test_pair_table_rejects_misaligned_inputs():
    with pytest.raises(ValueError):
        pair_table([1, 2], [0], [[["a"]], [["b"]]])
    with pytest.raises(ValueError):
        pair_table([1, 2], [0, 0], [[["a"]], [["b"]]], pairs="edges")


def test_within_between_hand_example():
    df = pd.DataFrame(
        {
            "same_community": [True, True, False, False, False],
            "jsd_unigram": [0.1, 0.3, 0.8, 0.4, np.nan],
        }
    )
    out = within_between(df, "jsd_unigram")
    assert out["within"] == pytest.approx(0.2)
    assert out["between"] == pytest.approx(0.6)
    assert out["index"] == pytest.approx(1 - 0.2 / 0.6)


def test_within_between_undefined_cases():
    only_within = pd.DataFrame({"same_community": [True], "x": [0.5]})
    out = within_between(only_within, "x")
    assert out["within"] == 0.5 and math.isnan(out["between"]) and math.isnan(out["index"])
    zero_between = pd.DataFrame({"same_community": [True, False], "x": [0.0, 0.0]})
    assert math.isnan(within_between(zero_between, "x")["index"])
    empty = pd.DataFrame({"same_community": pd.Series([], dtype=bool), "x": []})
    assert all(math.isnan(v) for v in within_between(empty, "x").values())


def test_planted_communities_separate():
    docs, communities = planted_docs(rng(6), per_community=5)
    table = pair_table(list(range(len(docs))), communities, docs)
    # bigrams of short random docs are sparse, so even within-community JSD is near 1
    for column, floor in (("jsd_unigram", 0.5), ("jsd_bigram", 0.02)):
        out = within_between(table, column)
        assert out["within"] < out["between"]
        assert out["index"] > floor
    one_community = within_between(table.assign(same_community=True), "jsd_unigram")
    assert math.isnan(one_community["index"])


def _scipy_pairs_jsd(probs, neg_entropy, pairs):
    """The SciPy path the compiled merge replaced: gathered rows, summed, row sums."""
    from society.metrics.divergence import _xlogx_sum

    i, j = pairs[:, 0], pairs[:, 1]
    mixture = sparse.csr_matrix((probs[i] + probs[j]) * 0.5)
    return 0.5 * (neg_entropy[i] + neg_entropy[j]) - _xlogx_sum(mixture)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_mixtures_give_scipys_divergences_bit_for_bit(seed):
    from society.metrics.divergence import _normalise, _pairs_jsd, _xlogx_sum

    gen = rng(seed)
    vocab = [f"w{i}" for i in range(300)]
    docs = [random_doc(gen, vocab, 8, 30) for _ in range(40)] + [[]]  # an empty row too
    probs, _ = _normalise(ngram_count_matrix(docs, 2))
    neg_entropy = _xlogx_sum(probs)
    pairs = np.array([(a, b) for a in range(41) for b in range(41) if a != b], dtype=np.int64)
    got = _pairs_jsd(probs, neg_entropy, pairs)
    want = _scipy_pairs_jsd(probs, neg_entropy, pairs)
    assert got.tobytes() == want.tobytes()
