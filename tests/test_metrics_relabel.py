import numpy as np
import pytest

from society.metrics.divergence import jsd_matrix, ngram_count_matrix
from society.metrics.relabel import _deals, draws_within, null_means, relabelled_jsd

WORDS = [f"w{k}" for k in range(40)]


def speaker(rng: np.random.Generator, texts: int, words=WORDS) -> tuple:
    """``texts`` texts of 3-8 words drawn from one Zipf-like distribution over ``words``."""
    p = 1 / np.arange(1, len(words) + 1)
    p /= p.sum()
    return tuple(
        tuple(rng.choice(words, size=rng.integers(3, 9), p=p).tolist()) for _ in range(texts)
    )


def test_one_language_has_a_floor_that_the_null_removes():
    rng = np.random.default_rng(0)
    docs = [speaker(rng, 40) for _ in range(6)]
    pairs = np.array([(i, j) for i in range(6) for j in range(i + 1, 6)])
    raw = jsd_matrix(ngram_count_matrix(docs, 1), pairs)
    null = relabelled_jsd(docs, pairs, (1,), 20, np.random.default_rng(1))[0]
    assert raw.mean() > 0.05  # finite samples of one language differ
    assert abs((raw - null).mean()) < 0.01
    assert np.abs(raw - null).max() < 0.05


def test_disjoint_vocabularies_keep_their_divergence():
    rng = np.random.default_rng(0)
    docs = [speaker(rng, 30), speaker(rng, 30, [w.upper() for w in WORDS])]
    pairs = np.array([[0, 1]])
    raw = jsd_matrix(ngram_count_matrix(docs, 1), pairs)
    null = relabelled_jsd(docs, pairs, (1,), 10, np.random.default_rng(1))[0]
    assert raw[0] == pytest.approx(1.0)
    assert raw[0] - null[0] > 0.5  # the pooled split shares words: far below 1


def test_deals_keep_the_sizes_and_draw_without_replacement():
    rows, positions = _deals(np.array([3, 5]), np.array([4, 5]), 6, np.random.default_rng(0))
    assert len(rows) == 6 * 3 + 6 * 5
    for row in range(12):
        dealt = positions[rows == row]
        size_i, pooled = (3, 7) if row < 6 else (5, 10)
        assert len(dealt) == size_i == len(set(dealt.tolist()))
        assert dealt.min() >= 0 and dealt.max() < pooled


def test_same_generator_same_null_and_orders_are_separate():
    rng = np.random.default_rng(3)
    docs = [speaker(rng, 20) for _ in range(3)]
    pairs = np.array([[0, 1], [0, 2], [1, 2]])
    a = relabelled_jsd(docs, pairs, (1, 2), 4, np.random.default_rng(9))
    b = relabelled_jsd(docs, pairs, (1, 2), 4, np.random.default_rng(9))
    c = relabelled_jsd(docs, pairs, (1, 2), 4, np.random.default_rng(10))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert (a[1] > a[0]).all()  # bigrams are sparser: a higher floor


def test_an_agent_without_words_gives_nan():
    docs = [(("a", "b"), ("b", "c")), ()]
    null = relabelled_jsd(docs, np.array([[0, 1]]), (1,), 3, np.random.default_rng(0))[0]
    assert np.isnan(null[0])
    with pytest.raises(ValueError, match="draws"):
        relabelled_jsd(docs, np.array([[0, 1]]), (1,), 0, np.random.default_rng(0))


def test_draws_within_the_budget():
    assert draws_within(10, 5, 100) == 5
    assert draws_within(100, 5, 100) == 1
    assert draws_within(40, 5, 100) == 2
    assert draws_within(1000, 5, 100) == 1  # every pair keeps one
    assert draws_within(1000, 5, 0) == 5  # no cap
    assert draws_within(10, 0, 100) == 0


def test_beyond_the_budget_a_sample_is_relabelled_and_the_rest_fitted_per_agent():
    rng = np.random.default_rng(5)
    docs = [speaker(rng, texts) for texts in (10, 20, 40, 80) * 5]  # floors differ
    pairs = np.array([(i, j) for i in range(20) for j in range(i + 1, 20)])
    exact = relabelled_jsd(docs, pairs, (1,), 20, np.random.default_rng(0))[0]
    fitted = null_means(docs, pairs, (1,), 5, 80, np.random.default_rng(0))[0]
    assert np.isfinite(fitted).all()
    # the fit follows the floors much better than one number for all pairs would
    assert np.abs(fitted - exact).mean() < 0.5 * np.abs(exact - exact.mean()).mean()
    within = null_means(docs, pairs, (1,), 5, 1000, np.random.default_rng(0))[0]
    np.testing.assert_array_equal(
        within, relabelled_jsd(docs, pairs, (1,), 5, np.random.default_rng(0))[0]
    )


def test_only_the_texts_of_agents_in_a_pair_are_counted(monkeypatch):
    """A sampled null reads the sampled pairs' agents, not the whole population: the same
    values (to rounding) as with the other agents' texts present, and only their texts."""
    from society.metrics import relabel

    rng = np.random.default_rng(4)
    docs = [speaker(rng, 10 + a) for a in range(12)]
    pairs = np.array([[1, 4], [4, 9], [9, 1]])
    alone = relabelled_jsd([docs[1], docs[4], docs[9]], [[0, 1], [1, 2], [2, 0]], (1, 2), 5,
                           np.random.default_rng(2))  # fmt: skip
    counted = []
    original = relabel._text_counts
    monkeypatch.setattr(
        relabel, "_text_counts", lambda d, o: counted.append(len(d)) or original(d, o)
    )
    within = relabelled_jsd(docs, pairs, (1, 2), 5, np.random.default_rng(2))
    assert counted == [3]
    for got, want in zip(within, alone, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert np.isfinite(got).all() and (got > 0).all()


def _agents_with_gaps(seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    docs = [speaker(rng, int(rng.integers(3, 12))) for _ in range(9)]
    docs[2] = ()  # said nothing
    docs[5] = (*docs[5], (), ("solo",))  # an empty text and a one-word text
    return docs


@pytest.mark.parametrize("seed", [0, 1])
def test_word_ids_are_relabelled_as_the_documents_bit_for_bit(seed):
    from society.metrics.counts import PopulationCounts

    docs = _agents_with_gaps(seed)
    flat = PopulationCounts.of(docs).flat
    assert flat is not None and len(flat) == len(docs)
    pairs = np.array([(i, j) for i in range(9) for j in range(i + 1, 9) if (i + j) % 3])
    for budget in (0, 7):  # every pair, or a sample of pairs (the agents of a subset)
        got = null_means(flat, pairs, (1, 2), 4, budget, np.random.default_rng(seed))
        want = null_means(docs, pairs, (1, 2), 4, budget, np.random.default_rng(seed))
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    subset = np.array([1, 4, 5, 8])
    within = np.array([[0, 1], [1, 3], [2, 3]])
    got = relabelled_jsd(flat.select(subset), within, (2,), 3, np.random.default_rng(2))
    want = relabelled_jsd([docs[a] for a in subset], within, (2,), 3, np.random.default_rng(2))
    np.testing.assert_array_equal(got[0], want[0])


def test_counts_in_chunks_keep_no_word_ids(monkeypatch):
    from society.metrics import counts as module

    docs = _agents_with_gaps(3)
    monkeypatch.setattr(module, "CHUNK_TOKENS", 10)
    assert module.PopulationCounts.of(docs).flat is None  # the documents are relabelled
