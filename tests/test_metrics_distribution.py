from collections import Counter

import numpy as np
import pytest

from society.metrics.distribution import (
    coverage,
    rank_frequency,
    tail_mass,
    tail_words,
    zipf_exponent,
    zipf_exponents,
)


@pytest.mark.parametrize("s", [0.8, 1.1, 1.6])
@pytest.mark.parametrize("seed", [0, 1])
def test_zipf_exponent_recovered_within_5_percent(s, seed):
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, 2001)
    p = ranks**-s / np.sum(ranks**-s)
    sample = Counter(rng.choice(len(ranks), size=50_000, p=p).tolist())
    assert zipf_exponent(sample) == pytest.approx(s, rel=0.05)


def test_zipf_exponent_degenerate_and_mapping_forms():
    assert np.isnan(zipf_exponent({"a": 5}))
    assert np.isnan(zipf_exponent([]))
    assert zipf_exponent([10, 10, 10]) == pytest.approx(1e-3, abs=1e-3)  # flat: s -> 0
    assert zipf_exponent({"a": 9, "b": 3, "c": 1}) == zipf_exponent([1, 9, 3])


def test_tail_words_hold_at_most_the_share():
    counts = {"the": 50, "and": 30, "lord": 10, "ark": 5, "gopher": 3, "wood": 2}
    tail = tail_words(counts, share=0.1)
    assert tail == frozenset({"ark", "gopher", "wood"})  # 10% of 100 tokens
    assert tail_words(counts, share=0.05) == frozenset({"gopher", "wood"})
    with pytest.raises(ValueError):
        tail_words(counts, share=1.0)
    assert tail_words({}, 0.1) == frozenset()


def test_tail_mass_and_coverage_known_answers():
    tail = frozenset({"ark", "wood"})
    assert tail_mass(Counter({"the": 6, "ark": 3, "wood": 1}), tail) == pytest.approx(0.4)
    assert np.isnan(tail_mass(Counter(), tail))
    assert coverage(["a", "b", "z"], frozenset({"a", "b", "c", "d"})) == 0.5
    assert np.isnan(coverage(["a"], frozenset()))


def test_rank_frequency_is_sorted_and_normalised():
    f = rank_frequency(Counter({"a": 1, "b": 5, "c": 4}))
    assert list(f) == [0.5, 0.4, 0.1]


def test_zipf_exponents_together_equal_one_fit_each_bit_for_bit():
    rng = np.random.default_rng(0)
    samples = [np.unique(rng.zipf(1.6, size=m), return_counts=True)[1] for m in (5, 40, 400, 4000)]
    samples += [np.array([], dtype=int), np.array([7]), np.array([3, 3, 3]), np.array([1, 9])]
    got = zipf_exponents([rng.permutation(s) for s in samples])  # any order
    want = [zipf_exponent(s) for s in samples]
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[4:6]).all() and np.isfinite(got[6:]).all()
