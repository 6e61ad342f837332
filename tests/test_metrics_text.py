import math

import pytest

from society.metrics.text import distinct_n, text_metrics, tokenize_all, tokenize_tuples, words

KEYS = {
    "distinct_1",
    "distinct_2",
    "distinct_3",
    "entropy",
    "vocab_size",
    "ttr",
    "hapax_ratio",
    "mean_length",
}


def test_words_lowercases_keeps_apostrophes_drops_punctuation():
    assert words("Don't  stop, Bob! The LORD\u2019s way.") == [
        "don't",
        "stop",
        "bob",
        "the",
        "lord's",
        "way",
    ]
    assert words("") == []
    assert words("... !!") == []
    assert words("'tis ok'") == ["tis", "ok"]


def test_tokenize_all_keeps_one_list_per_text():
    assert tokenize_all(["A b", "", "c."]) == [["a", "b"], [], ["c"]]


def test_tokenize_all_shares_one_string_per_word_across_calls():
    first, second = tokenize_all(["Lamb of the lamb"])[0], tokenize_all(["LAMB"])[0]
    assert first == ["lamb", "of", "the", "lamb"] and second == ["lamb"]
    assert first[0] is first[3] is second[0]


def test_distinct_n_hand_example():
    texts = [["a", "b", "a", "b"], ["a", "b", "c"]]
    # unigrams: 7 tokens, types {a, b, c}
    assert distinct_n(texts, 1) == pytest.approx(3 / 7)
    # bigrams: ab ba ab | ab bc -> 5 total, unique {ab, ba, bc}
    assert distinct_n(texts, 2) == pytest.approx(3 / 5)
    # trigrams: aba bab | abc -> 3 total, all unique
    assert distinct_n(texts, 3) == pytest.approx(1.0)
    # no 4-gram in the second text, two in the first, distinct
    assert distinct_n(texts, 4) == pytest.approx(1.0)
    assert distinct_n(texts, 5) == 0.0


def test_distinct_n_does_not_cross_text_boundaries():
    # joined, "b c" would be a bigram; separately there are none
    assert distinct_n([["a"], ["b"], ["c"]], 2) == 0.0
    assert distinct_n([], 1) == 0.0
    with pytest.raises(ValueError):
        distinct_n([["a"]], 0)


def test_entropy_of_uniform_is_log_k():
    for k in (1, 2, 5, 17):
        text = " ".join(f"w{i}" for i in range(k))
        assert text_metrics([text, text])["entropy"] == pytest.approx(math.log(k))


def test_entropy_hand_example():
    # p = (1/2, 1/4, 1/4)
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert text_metrics(["a a", "b c"])["entropy"] == pytest.approx(expected)


def test_vocab_ttr_hapax_length_hand_example():
    out = text_metrics(["The cat, the", "dog!", ""])
    assert out["vocab_size"] == 3
    assert out["ttr"] == pytest.approx(3 / 4)
    # types: the (2), cat (1), dog (1) -> 2 of 3 are hapaxes
    assert out["hapax_ratio"] == pytest.approx(2 / 3)
    assert out["mean_length"] == pytest.approx(4 / 3)


def test_text_metrics_agrees_with_distinct_n_and_hand_counts():
    texts = ["The cat saw the dog.", "A dog saw a cat!", "", "Cats and dogs and cats."]
    out = text_metrics(texts)
    assert set(out) == KEYS
    assert all(isinstance(v, float) for v in out.values())
    toks = tokenize_all(texts)
    assert out["distinct_1"] == pytest.approx(distinct_n(toks, 1))
    assert out["distinct_2"] == pytest.approx(distinct_n(toks, 2))
    assert out["distinct_3"] == pytest.approx(distinct_n(toks, 3))
    assert out["vocab_size"] == 8  # a, and, cat, cats, dog, dogs, saw, the
    assert out["ttr"] == pytest.approx(8 / 15)
    assert out["mean_length"] == pytest.approx(15 / 4)


def test_text_metrics_empty_inputs_are_zero():
    for texts in ([], [""], ["?!"]):
        out = text_metrics(texts)
        assert set(out) == KEYS
        assert all(v == 0.0 for v in out.values())


def test_repetition_lowers_diversity():
    varied = text_metrics([f"word{i} other{i} thing{i}" for i in range(20)])
    collapsed = text_metrics(["the same words again"] * 20)
    for key in ("distinct_1", "distinct_2", "distinct_3", "entropy", "hapax_ratio"):
        assert collapsed[key] < varied[key]


def test_tokenize_tuples_equals_tokenize_all_as_tuples():
    texts = [
        "A b",
        "",
        "c.",
        "Don\u2019t stop, BOB!",
        "don't  'quote' o''k",
        "caf\u00c9 na\u00efve \u03a3\u039f\u03a6\u039f\u03a3 x",
        "numbers 42 and_under",
    ] * 3
    got = tokenize_tuples(texts)
    assert got == tuple(tuple(words) for words in tokenize_all(texts))
    assert got[3] == ("don't", "stop", "bob")
    assert got[0][1] is got[7][1]  # equal words share one interned string


def _by_regex(text):
    """The definition: ``WORD`` over the lowercased text, curly apostrophes read straight."""
    from society.metrics.text import WORD

    return WORD.findall(text.lower().replace("\u2019", "'"))


def test_words_equals_the_regex_on_random_ascii_and_unicode_strings():
    """The ASCII split path gives the regex's words: every ASCII character, apostrophes."""
    import random

    rng = random.Random(7)
    alphabet = [chr(c) for c in range(128)] + ["'"] * 20 + list("ab_9 ") * 10
    extra = ["\u2019", "é", "Ω", "\u00a0", "\u2028", "ß", "İ"]
    for trial in range(6000):
        pool = alphabet + (extra if trial % 3 == 0 else [])
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        assert words(text) == _by_regex(text), repr(text)


def test_words_equals_the_regex_on_real_text():
    from society.corpora.kjv import load_kjv

    texts = load_kjv()[:5000]
    assert [words(t) for t in texts] == [_by_regex(t) for t in texts]
