"""Released lookup tables come back the same, and clones keep the tables they share."""

import dataclasses
import pickle

import numpy as np
import pytest

from society.lm.ngram import NGramLM
from society.lm.ngram_population import sample_together, score_together
from society.lm.request import SpeechRequest
from society.lm.tokenizer import SharedTokenizer
from tests.test_ngram import make_corpus


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return make_corpus(300, seed=3)


@pytest.fixture(scope="module")
def tok(corpus) -> SharedTokenizer:
    return SharedTokenizer.train(corpus, vocab_size=300)


def learned(tok, texts) -> NGramLM:
    lm = NGramLM(tok, order=3)
    lm.fit(texts)
    return lm


def assert_same_tables(a, b) -> None:
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        xs, ys = (x, y) if isinstance(x, list) else ([x], [y])
        for u, v in zip(xs, ys, strict=True):
            np.testing.assert_array_equal(u, v)
            assert u.dtype == v.dtype


def test_released_tables_are_derived_again_bit_for_bit(tok, corpus):
    lm = learned(tok, corpus[:200])
    before = lm._tables
    assert lm.release_tables()
    assert lm._built is None and not lm.release_tables()  # nothing left to drop
    assert_same_tables(lm._tables, before)
    assert lm._built is not None


def test_a_released_model_speaks_and_scores_as_before(tok, corpus):
    kept, released = learned(tok, corpus[:200]), learned(tok, corpus[:200])
    released.release_tables()
    request = dict(n=20, max_tokens=12)
    want = kept.sample(SpeechRequest(rng=np.random.default_rng(5), **request))
    assert released.sample(SpeechRequest(rng=np.random.default_rng(5), **request)) == want
    released.release_tables()
    for want, got in zip(kept.score(corpus[200:]), released.score(corpus[200:]), strict=True):
        np.testing.assert_array_equal(got, want)


def test_population_paths_use_released_models_alike(tok, corpus):
    models = [learned(tok, corpus[i * 50 : i * 50 + 50]) for i in range(4)]
    twins = [learned(tok, corpus[i * 50 : i * 50 + 50]) for i in range(4)]
    for m in twins[::2]:
        m.release_tables()
    requests = [SpeechRequest(8, rng=np.random.default_rng(i), max_tokens=10) for i in range(4)]
    again = [SpeechRequest(8, rng=np.random.default_rng(i), max_tokens=10) for i in range(4)]
    assert sample_together(twins, again) == sample_together(models, requests)
    for m in twins:
        m.release_tables()
    heldout = [corpus[250:]] * 4
    scored = zip(score_together(twins, heldout), score_together(models, heldout), strict=True)
    for got, want in scored:
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_clones_keep_the_tables_they_share(tok, corpus):
    ancestor = learned(tok, corpus)
    clones = [ancestor.clone() for _ in range(3)]
    assert not any(c.release_tables() for c in clones) and not ancestor.release_tables()
    assert all(c._tables is ancestor._tables for c in clones)
    clones[0].update(corpus[:40])  # learning derives its own tables: those can go
    assert clones[0]._tables is not ancestor._tables
    assert clones[0].release_tables()
    assert clones[1]._tables is ancestor._tables


def test_a_released_model_pickles_and_restores(tok, corpus):
    lm = learned(tok, corpus[:100])
    want = lm._tables
    lm.release_tables()
    back = pickle.loads(pickle.dumps(lm))
    assert_same_tables(back._tables, want)
