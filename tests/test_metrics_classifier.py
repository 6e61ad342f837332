import numpy as np
import pytest

from society.metrics.classifier import real_vs_generated_accuracy

REAL = [f"and the lord said unto moses number {i % 7} go thou" for i in range(80)]


def test_identical_sources_are_at_chance():
    rng = np.random.default_rng(0)
    words = ["the", "lord", "said", "unto", "moses", "and", "go", "thou", "land", "people"]
    texts = [" ".join(rng.choice(words, 8)) for _ in range(200)]
    scores = [real_vs_generated_accuracy(texts[:100], texts[100:], seed=s) for s in range(3)]
    assert 0.3 < np.mean(scores) < 0.7


def test_different_sources_are_told_apart():
    fake = [f"zq xv kk {i % 5} blorp" for i in range(80)]
    assert real_vs_generated_accuracy(fake, REAL) == pytest.approx(1.0)


def test_too_few_or_empty_texts_give_nan():
    assert np.isnan(real_vs_generated_accuracy(["a b"] * 3, REAL))
    assert np.isnan(real_vs_generated_accuracy(["!!"] * 20, ["??"] * 20))


def test_seeded():
    fake = [f"and the lord said unto {i % 3} thou" for i in range(60)]
    a = real_vs_generated_accuracy(fake, REAL, seed=4)
    assert a == real_vs_generated_accuracy(fake, REAL, seed=4)
