import numpy as np
import pytest

from society.metrics import semantic


def test_drift_and_diversity_known_answers():
    e = np.eye(3)
    assert semantic.diversity(np.vstack([e[0], e[0]])) == pytest.approx(0.0)
    assert semantic.diversity(np.vstack([e[0], e[1]])) == pytest.approx(1.0)
    assert np.isnan(semantic.diversity(e[:1]))
    assert semantic.drift(np.vstack([e[0], e[0]]), e[0]) == pytest.approx(0.0)
    assert semantic.drift(e[:1], -e[0]) == pytest.approx(2.0)
    assert np.isnan(semantic.drift(e[:1], np.zeros(3)))


@pytest.mark.skipif(not semantic.available(), reason="needs the 'embeddings' extra")
def test_embeddings_separate_topics():
    texts = ["the cat sat on the mat", "a kitten slept on the rug", "stock markets fell today"]
    v = semantic.embed(texts)
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert semantic.drift(v[:2], semantic.centroid(v[:2])) == pytest.approx(0.0, abs=1e-9)
