import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from society.metrics.counts import PopulationCounts, ngram_keys, ordered_sums
from society.metrics.divergence import ngram_count_matrix, ngram_counts
from society.metrics.novelty import ngrams
from tests.population import random_agents


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_equal_each_agents_counters(seed):
    docs = [a.docs for a in random_agents(seed)]
    counts = PopulationCounts.of(docs)
    for n in (1, 2, 3):
        for row, doc in enumerate(docs):
            want = Counter(ngrams(doc, n))
            matrix = counts.counts[n]
            got = {
                counts.names(n)[c]: v
                for c, v in zip(
                    matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]],
                    matrix.data[matrix.indptr[row] : matrix.indptr[row + 1]],
                    strict=True,
                )
            }
            assert got == want
        assert (counts.counts[n] != ngram_count_matrix(docs, n)).nnz == 0
    assert counts.names(2) == ngram_counts(docs, 2)[1]


def test_entries_are_in_each_agents_order_of_first_use():
    docs = [(("b", "a", "b"),), (), (("a", "c"), ("c", "b"))]
    counts = PopulationCounts.of(docs)
    words = counts.words[counts.entry_word].tolist()
    assert counts.entry_row.tolist() == [0, 0, 2, 2, 2]
    assert words == ["b", "a", "a", "c", "b"]  # as Counter(...) of each agent lists them
    assert counts.entry_count.tolist() == [2, 1, 1, 2, 1]
    assert counts.tokens().tolist() == [3, 0, 4] and counts.texts.tolist() == [1, 0, 2]


def test_entropy_is_pythons_sum_bit_for_bit():
    docs = [a.docs for a in random_agents(5, n=50)]
    got = PopulationCounts.of(docs).entropy()
    for value, doc in zip(got, docs, strict=True):
        counts = Counter(w for text in doc for w in text)
        total = sum(counts.values())
        want = -sum(c / total * math.log(c / total) for c in counts.values()) if total else 0.0
        assert value == want


def test_ordered_sums_add_left_to_right_per_row():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(500) * 10.0 ** rng.integers(-8, 8, 500)
    rows = np.sort(rng.integers(0, 7, 500))
    got = ordered_sums(values, rows, 9)
    for r in range(9):
        assert got[r] == sum(values[rows == r].tolist())


def test_ngram_keys_are_distinct_and_refuse_overflow():
    grams = np.array([[0, 1, 2], [2, 1, 0], [1, 1, 1]])
    assert len(set(ngram_keys(grams, 3).tolist())) == 3
    assert ngram_keys(grams, 2**21 + 1) is None


def assert_same_counts(got: PopulationCounts, want: PopulationCounts) -> None:
    assert got.words.tolist() == want.words.tolist()
    for n in (1, 2, 3):
        a, b = got.counts[n], want.counts[n]
        assert a.shape == b.shape and a.has_sorted_indices
        for field in ("data", "indices", "indptr"):
            x, y = getattr(a, field), getattr(b, field)
            assert x.dtype == y.dtype and np.array_equal(x, y), (n, field)
        np.testing.assert_array_equal(got.grams[n], want.grams[n])
    for field in ("texts", "entry_row", "entry_word", "entry_count"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field))


@pytest.mark.parametrize("chunk", [1, 7, 60, 10**9])
def test_counting_in_chunks_of_agents_equals_one_pass(chunk, monkeypatch):
    """Chunks of one agent, of a few, of many and all at once: the same columns (in the
    population's order of first appearance), matrices, n-grams and entries, empty agents
    and one-word texts included."""
    from society.metrics import counts as module

    docs = [a.docs for a in random_agents(3, n=40)]
    docs[4], docs[9] = (), (("solo",), ("solo", "pair"), ())
    monkeypatch.setattr(module, "CHUNK_TOKENS", chunk)
    monkeypatch.setattr(module, "DIGITS_BLOCK", max(chunk // 2, 1))  # n-grams back in blocks
    chunked = PopulationCounts.of(docs)
    assert_same_counts(chunked, PopulationCounts.of_all(docs))
    assert chunked.counts[3].nnz > 100 and len(module._agent_chunks(docs, chunk)) > (chunk < 60)


def test_counting_falls_back_to_one_pass_when_keys_would_overflow(monkeypatch):
    from society.metrics import counts as module

    docs = [a.docs for a in random_agents(1, n=5)]
    calls = []
    monkeypatch.setattr(module, "ngram_keys", lambda grams, base: None)
    original = PopulationCounts.of_all.__func__
    monkeypatch.setattr(
        PopulationCounts, "of_all", classmethod(lambda c, d: calls.append(1) or original(c, d))
    )
    assert PopulationCounts.of(docs).counts[1].nnz > 0 and calls == [1]


def test_no_agents_count_nothing():
    counts = PopulationCounts.of([])
    assert counts.agents == 0 and counts.counts[2].shape == (0, 0) and len(counts.words) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numbering_keys_chunk_by_chunk_equals_factorize(seed):
    from society.metrics.counts import number_keys

    rng = np.random.default_rng(seed)
    chunks = [pd.unique(rng.integers(0, 60, size)) for size in (0, 30, 1, 50, 80)]
    codes, keys = number_keys(chunks)
    want_codes, want_keys = pd.factorize(np.concatenate(chunks), sort=False)
    np.testing.assert_array_equal(codes, want_codes)
    assert codes.dtype == np.int32
    np.testing.assert_array_equal(keys, np.asarray(want_keys))
    assert number_keys([])[0].size == 0


def test_entries_are_int32_and_give_the_int64_sums():
    docs = [a.docs for a in random_agents(4, n=12)]
    counts = PopulationCounts.of(docs)
    assert {counts.entry_row.dtype, counts.entry_word.dtype, counts.entry_count.dtype} == {
        np.dtype(np.int32)
    }
    wide = np.bincount(counts.entry_row.astype(np.int64), counts.entry_count.astype(np.int64))
    np.testing.assert_array_equal(counts.tokens(), wide.astype(np.int64))
    assert counts.tokens().dtype == np.int64
