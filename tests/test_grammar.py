import itertools
import math
import time
from collections import Counter

import numpy as np
import pytest

from society.corpora.english import default_rules
from society.corpora.grammar import Grammar, default_grammar


@pytest.fixture(scope="module")
def grammar() -> Grammar:
    return default_grammar()


@pytest.fixture(scope="module")
def sentences(grammar: Grammar) -> list[str]:
    return grammar.generate(1000, np.random.default_rng(0))


def test_generated_sentences_are_grammatical(grammar: Grammar, sentences: list[str]) -> None:
    assert len(sentences) == 1000
    bad = [s for s in sentences if not grammar.is_grammatical(s)]
    assert bad == []
    for s in sentences:
        assert s.endswith(" .")
        assert s == s.lower()
        assert set(s.split()) <= grammar.vocabulary


def test_generation_is_deterministic_and_varied(grammar: Grammar) -> None:
    a = grammar.generate(200, np.random.default_rng(7))
    b = grammar.generate(200, np.random.default_rng(7))
    c = grammar.generate(200, np.random.default_rng(8))
    assert a == b
    assert a != c
    assert len(set(a)) > 150
    lengths = [len(s.split()) for s in a]
    assert min(lengths) >= 3  # "alice sleeps ."
    assert max(lengths) > 12


def test_recognizer_is_fast(grammar: Grammar) -> None:
    rng = np.random.default_rng(1)
    long = [s for s in grammar.generate(8000, rng) if 12 <= len(s.split()) <= 18][:1000]
    assert len(long) == 1000
    start = time.perf_counter()
    assert all(grammar.is_grammatical(s) for s in long)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "sentence",
    [
        "the dogs sees the cat .",  # subject-verb agreement
        "the dog see the cat .",
        "every dogs sleep .",  # determiner-noun agreement
        "these dog sleeps .",
        "the dog that see the cat sleeps .",  # agreement inside a relative clause
        "the dog that the cats sees sleeps .",  # object relative: verb agrees with inner NP
        "alice think that the dogs sleeps .",
        "dog the sleeps .",  # word order
        "the dog the cat sees .",
        "the sleeps dog .",
        "the dog sleeps the cat .",  # intransitive verb with an object
        "the dog sees .",  # transitive verb without one
        "the dog sleeps",  # missing period
        "the dog sleeps . .",
        "the dog that .",  # truncated
        "the old .",
        "the dog sleeps in .",
        "the dog zorbles .",  # unknown word
        "The dog sleeps .",  # case matters
        "the dog sleeps.",  # period must be its own word
        "",
        ".",
    ],
)
def test_ungrammatical_sentences_are_rejected(grammar: Grammar, sentence: str) -> None:
    assert not grammar.is_grammatical(sentence)
    assert grammar.log_prob(sentence) == -math.inf


@pytest.mark.parametrize(
    "sentence",
    [
        "the dog sleeps .",
        "the dogs sleep .",
        "alice sees the cats .",
        "the dog that the cats see sleeps .",
        "the dogs that the cat sees sleep .",
        "alice thinks that the dogs sleep .",
        "the old dog with the cats runs quickly .",
        "  the   dog\tsleeps .\n",  # whitespace is normalised
    ],
)
def test_grammatical_sentences_are_accepted(grammar: Grammar, sentence: str) -> None:
    assert grammar.is_grammatical(sentence)
    assert math.isfinite(grammar.log_prob(sentence))


def test_depth_bound_is_exact() -> None:
    shallow = default_grammar(max_depth=1)
    deep = default_grammar(max_depth=2)
    nested = "the dog with the cat with the bird sleeps ."
    assert deep.is_grammatical(nested)
    assert not shallow.is_grammatical(nested)
    assert shallow.is_grammatical("the dog with the cat sleeps .")


def test_vocabulary_is_heavy_tailed(grammar: Grammar) -> None:
    assert 300 <= len(grammar.vocabulary) <= 800
    text = grammar.generate(5000, np.random.default_rng(3))
    counts = Counter(w for s in text for w in s.split())
    freqs = np.array(sorted(counts.values(), reverse=True), dtype=float)
    top = max(1, len(grammar.vocabulary) // 10)
    assert freqs[:top].sum() / freqs.sum() > 0.5  # a tenth of the words make most tokens
    assert freqs[0] / np.median(freqs) > 100  # and the median word is rare
    # Within one category the frequencies fall as a power of rank (Zipf).
    nouns = grammar.lexicon["N.sg"]
    noun_counts = np.array([counts[w] for w in nouns], dtype=float)
    ranks = np.arange(1, len(noun_counts) + 1)
    seen = noun_counts > 0
    slope = np.polyfit(np.log(ranks[seen]), np.log(noun_counts[seen]), 1)[0]
    assert -1.5 < slope < -0.7


def test_log_prob_matches_sampling_frequency(grammar: Grammar) -> None:
    text = grammar.generate(20000, np.random.default_rng(4))
    sentence, count = Counter(text).most_common(1)[0]
    expected = math.exp(grammar.log_prob(sentence)) * len(text)
    assert abs(count - expected) < 5 * math.sqrt(expected) + 1


# --- exactness against an independent oracle: enumerate a small grammar's whole language ---


def _language(g: Grammar) -> dict[str, float]:
    """Every string the grammar derives with its probability, by brute-force expansion."""
    memo: dict[str, dict[tuple[str, ...], float]] = {}

    def expand(sym: str) -> dict[tuple[str, ...], float]:
        if sym in memo:
            return memo[sym]
        if sym in g.lexicon:
            out = {(w,): p for w, p in g.lexicon[sym].items()}
        elif sym in g.rules:
            out = {}
            for rhs, p in g.rules[sym]:
                parts: dict[tuple[str, ...], float] = {(): p}
                for s in rhs:
                    nxt: dict[tuple[str, ...], float] = {}
                    for a, pa in parts.items():
                        for b, pb in expand(s).items():
                            nxt[a + b] = nxt.get(a + b, 0.0) + pa * pb
                    parts = nxt
                for k, v in parts.items():  # sum over ambiguous parses
                    out[k] = out.get(k, 0.0) + v
        else:
            out = {(sym,): 1.0}
        memo[sym] = out
        return out

    return {" ".join(k): v for k, v in expand(g.start).items()}


def _tiny_grammar() -> Grammar:
    lexicon = {
        "Det.sg": {"the": 1.0},
        "Det.pl": {"the": 1.0, "some": 1.0},
        "N.sg": {"dog": 1.0},
        "N.pl": {"dogs": 1.0},
        "Name": {"bob": 1.0},
        "Adj": {"old": 1.0},
        "Adv": {"often": 1.0},
        "P": {"near": 1.0},
        "Vt.sg": {"sees": 1.0},
        "Vt.pl": {"see": 1.0},
        "Vi.sg": {"runs": 1.0},
        "Vi.pl": {"run": 1.0},
        "Vs.sg": {"thinks": 1.0},
        "Vs.pl": {"think": 1.0},
    }
    rules = default_rules(max_depth=1)
    for n in ("sg", "pl"):  # keep the language small enough to enumerate quickly
        rules[f"Nom.{n}"] = [r for r in rules[f"Nom.{n}"] if len(r[0]) < 3]
    return Grammar(rules, lexicon)


@pytest.fixture(scope="module")
def tiny() -> tuple[Grammar, dict[str, float]]:
    g = _tiny_grammar()
    return g, _language(g)


def test_tiny_language_probabilities_sum_to_one(tiny) -> None:
    g, language = tiny
    assert len(language) > 1000
    assert sum(language.values()) == pytest.approx(1.0, abs=1e-9)
    rng = np.random.default_rng(0)
    for s in rng.choice(sorted(language), 300, replace=False):
        assert g.log_prob(s) == pytest.approx(math.log(language[s]), rel=1e-9)


def test_recognizer_matches_enumerated_language(tiny) -> None:
    g, language = tiny
    words = sorted(g.vocabulary)
    rng = np.random.default_rng(1)
    members = sorted(language)
    candidates = set(rng.choice(members, 300, replace=False))
    for s in list(candidates):
        toks = s.split()
        for _ in range(10):  # single-token edits: substitute, delete, insert, swap
            t = list(toks)
            i = int(rng.integers(len(t)))
            op = int(rng.integers(4))
            if op == 0:
                t[i] = words[int(rng.integers(len(words)))]
            elif op == 1:
                del t[i]
            elif op == 2:
                t.insert(i, words[int(rng.integers(len(words)))])
            else:
                j = int(rng.integers(len(t)))
                t[i], t[j] = t[j], t[i]
            candidates.add(" ".join(t))
    for n in range(1, 4):  # every short string over the vocabulary
        candidates.update(" ".join(p) for p in itertools.product(words, repeat=n))
    wrong = [s for s in candidates if g.is_grammatical(s) != (s in language)]
    assert wrong == []
    assert any(s not in language for s in candidates)
    assert sum(s in language for s in candidates) > 300


def test_invalid_grammars_are_refused() -> None:
    with pytest.raises(ValueError, match="recursive"):
        Grammar({"S": [(("S", "a"), 1.0), (("a",), 1.0)]}, {})
    with pytest.raises(ValueError, match="start"):
        Grammar({"A": [(("a",), 1.0)]}, {})
    with pytest.raises(ValueError, match="non-positive"):
        Grammar({"S": [(("a",), 0.0)]}, {})


def test_word_forms_are_unambiguous_except_shared_determiners(grammar: Grammar) -> None:
    owners: dict[str, set[str]] = {}
    for cat, words in grammar.lexicon.items():
        for w in words:
            owners.setdefault(w, set()).add(cat)
    shared = {w for w, cats in owners.items() if len(cats) > 1}
    assert all(owners[w] == {"Det.sg", "Det.pl"} for w in shared)
    assert "the" in shared
    assert {"dog", "dogs", "sees", "see", "men", "children", "carries"} <= grammar.vocabulary


def test_grammatical_share(grammar: Grammar, sentences: list[str]) -> None:
    mixed = sentences[:30] + ["dog the sleeps ."] * 10
    assert grammar.grammatical_share(mixed) == pytest.approx(0.75)
    assert math.isnan(grammar.grammatical_share([]))
