import math

import numpy as np
import pytest

from society.corpora import load_corpus
from society.metrics.measures.lexical import Lexicon, NovelGrams, TextDiversity, lexicon_row
from society.metrics.text import doc_metrics
from tests.population import random_agents
from tests.records import agent, measure, record, setup


def test_text_diversity_known_answers():
    rows = measure(TextDiversity, record([agent(1, ["a b a", "c"]), agent(2, [])]), setup())
    first, empty = rows.agent
    assert first["distinct_1"] == pytest.approx(3 / 4)
    assert first["distinct_2"] == pytest.approx(1.0)  # "a b", "b a"
    assert first["vocab_size"] == 3 and first["mean_length"] == 2
    assert first["hapax_ratio"] == pytest.approx(2 / 3)
    assert first["entropy"] == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert all(v == 0.0 for v in empty.values())


def test_lexicon_against_the_reference():
    # real vocabulary: the cat sat on mat dog ran to a bird sang in tree
    rows = measure(Lexicon, record([agent(1, ["the cat zzz", "the cat"])]), setup())
    (row,) = rows.agent
    assert (row["unique_1"], row["unique_2"], row["unique_3"]) == (3.0, 2.0, 1.0)
    assert row["neologism_share"] == pytest.approx(1 / 5)
    assert row["novel_2"] == pytest.approx(1 / 3)  # "cat zzz" of "the cat", "cat zzz", "the cat"
    assert row["novel_3"] == pytest.approx(1.0)
    # held-out vocabulary: the cat ran a dog sat on tree bird (9 types), "the" and "cat" used
    assert row["coverage"] == pytest.approx(2 / 9)
    assert np.isnan(row["grammatical"])  # no grammar behind a plain corpus


def test_lexicon_is_nan_where_an_agent_said_nothing():
    (row,) = measure(Lexicon, record([agent(1, [])]), setup()).agent
    assert np.isnan(row["neologism_share"]) and np.isnan(row["novel_2"])
    assert row["unique_1"] == 0.0


def test_grammaticality_against_the_generating_grammar():
    corpus = load_corpus("grammar", holdout=0.2, split_seed=0, grammar_texts=300)
    good = corpus.heldout[:20]
    bad = [" ".join(reversed(t.split())) + " zzz" for t in good]
    rec = record([agent(1, good), agent(2, bad)])
    first, second = measure(Lexicon, rec, setup(corpus=corpus)).agent
    assert first["grammatical"] == 1.0 and second["grammatical"] == 0.0
    assert second["neologism_share"] > 0  # "zzz" is not a word of the grammar


def test_unique_n_counts_distinct_ngrams_within_texts():
    (row,) = measure(Lexicon, record([agent(1, ["a b a b", "b a"])]), setup()).agent
    # (a b) and (b a); (a b a) and (b a b); nothing across the boundary between the texts
    assert [row[f"unique_{n}"] for n in (1, 2, 3)] == [2, 2, 2]


def _same(a, b) -> bool:
    return type(a) is type(b) and (a == b or (math.isnan(a) and math.isnan(b)))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_vectorised_rows_equal_the_per_agent_reference_exactly(seed):
    rec = record(random_agents(seed, extra=5))
    run = setup()
    text = measure(TextDiversity, rec, run).agent
    lexicon = measure(Lexicon, rec, run).agent
    for a, got_text, got_lexicon in zip(rec.agents, text, lexicon, strict=True):
        want_text, want_lexicon = doc_metrics(a.docs), lexicon_row(a, run.reference)
        assert all(_same(got_text[k], want_text[k]) for k in want_text), a.id
        assert all(_same(float(got_lexicon[k]), float(want_lexicon[k])) for k in want_lexicon)


def test_novel_ngrams_by_keys_equal_the_set_lookup():
    rec = record(random_agents(7, extra=3))
    run = setup()
    keyed = NovelGrams(run.reference)
    by_set = NovelGrams(run.reference)
    by_set.keys = {2: None, 3: None}  # as when the vocabulary is too large for int64 keys
    for n in (2, 3):
        assert keyed.seen(n) is not None
        assert keyed.mask(rec.counts, n).tolist() == by_set.mask(rec.counts, n).tolist()
    bigrams = keyed.mask(rec.counts, 2)
    assert bigrams.any() and not bigrams.all()  # some random bigrams are real ("the cat")


@pytest.mark.parametrize("block", [1, 7, 64])
def test_novel_ngrams_blockwise_equal_the_set_lookup(block, monkeypatch):
    from society.metrics.measures import lexical

    rec = record(random_agents(11, extra=4))
    run = setup()
    by_set = NovelGrams(run.reference)
    by_set.keys = {2: None, 3: None}
    want = {n: by_set.mask(rec.counts, n).tolist() for n in (2, 3)}
    monkeypatch.setattr(lexical, "MASK_BLOCK", block)
    keyed = NovelGrams(run.reference)
    for n in (2, 3):
        assert len(rec.counts.grams[n]) > 3 * block or block == 64
        assert keyed.mask(rec.counts, n).tolist() == want[n]
