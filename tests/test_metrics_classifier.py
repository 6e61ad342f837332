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


def library_cross_val(generated, real, max_texts=100, folds=5, seed=0) -> float:
    """The reference: scikit-learn's cross_val_score over the vectoriser-model pipeline."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    from society.metrics.classifier import TOKEN_PATTERN

    m = min(len(generated), len(real), max_texts)
    rng = np.random.default_rng(seed)
    fake = [generated[i] for i in rng.choice(len(generated), m, replace=False)]
    true = [real[i] for i in rng.choice(len(real), m, replace=False)]
    model = make_pipeline(
        CountVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, 2)),
        LogisticRegression(solver="liblinear"),
    )
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    texts, labels = np.asarray(fake + true, dtype=object), np.repeat([0, 1], m)
    return float(np.mean(cross_val_score(model, texts, labels, cv=split)))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_equals_cross_val_score_of_the_pipeline(seed):
    rng = np.random.default_rng(seed)
    words = ["the", "lord", "said", "unto", "moses", "and", "go", "thou", "land", "zq", "xv"]
    fake = [" ".join(rng.choice(words, rng.integers(3, 12))) for _ in range(150)]
    real = [" ".join(rng.choice(words[:9], rng.integers(3, 12))) for _ in range(120)]
    for folds in (3, 5):
        got = real_vs_generated_accuracy(fake, real, folds=folds, seed=seed)
        assert got == library_cross_val(fake, real, folds=folds, seed=seed)
