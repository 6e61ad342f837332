"""Remedies: mixing schedules, dedup/length, critic, verifier, human labels, and their effects.

The filters are tested on a curator built from a few hundred sentences of the synthetic
grammar (grammatical ones and scrambled ones); the last tests run whole societies, where
what the remedies do to a community over rounds is the point.
"""

import json
import math

import numpy as np
import pytest

from society.config import ConfigError, CurationConfig, RealDataConfig, Scenario, schedule_value
from society.corpora import load_corpus
from society.corpora.grammar import default_grammar
from society.lm.ngram import NGramLM
from society.lm.tokenizer import SharedTokenizer
from society.run.runner import build_society
from society.sim.curation import (
    Critics,
    Curator,
    LabelsError,
    curate,
    load_labels,
    parse_label,
    real_fraction,
    text_perplexities,
)
from society.sim.model import Society
from tests.cheap_metrics import cheap_metrics

GRAMMAR = default_grammar()
REAL = GRAMMAR.generate(300, np.random.default_rng(0))
HELDOUT = GRAMMAR.generate(41, np.random.default_rng(1))


def scrambled(texts: list[str], seed: int = 2) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.permutation(t.split())) for t in texts]


def fit(tok: SharedTokenizer, texts: list[str], order: int = 2) -> NGramLM:
    lm = NGramLM(tok, order=order)
    lm.fit(texts)
    return lm


@pytest.fixture(scope="module")
def tok() -> SharedTokenizer:
    return SharedTokenizer.train(REAL, 400, 1)


@pytest.fixture(scope="module")
def ancestor(tok) -> NGramLM:
    return fit(tok, REAL[:100])


@pytest.fixture(scope="module")
def heard() -> list[str]:
    """What a listener heard: grammatical sentences and scrambled ones, interleaved."""
    good = GRAMMAR.generate(40, np.random.default_rng(3))
    return [t for pair in zip(good, scrambled(good), strict=True) for t in pair]


@pytest.fixture
def critics(tok, ancestor) -> Critics:
    return Critics(ancestor, tok, REAL)


def curator(critics, *, grammar=None, rng=None, labels=None) -> Curator:
    return Curator(critics, HELDOUT, grammar, rng or np.random.default_rng(0), labels)


def test_curate_length_and_dedup():
    texts = ["a b c", "a", "a b c", "a b c d e f"]
    keep = curate(texts, CurationConfig(min_words=2, max_words=5, dedup=True))
    assert keep.tolist() == [True, False, False, False]
    assert curate(texts, CurationConfig()).all()


def test_schedule_values():
    points = [(2, 0.4), (6, 0.0)]
    assert [schedule_value(points, r, 0.1) for r in (0, 1, 2, 5, 6, 9)] == [
        0.1, 0.1, 0.4, 0.4, 0.0, 0.0,
    ]  # fmt: skip
    assert schedule_value(points, 4, 0.1, "linear") == pytest.approx(0.2)
    assert schedule_value([], 4, 0.3) == 0.3


def test_real_fraction_follows_its_schedule():
    config = RealDataConfig(fraction=0.1, schedule=[[2, 0.5], [3, 0.0]])
    assert [real_fraction(config, r) for r in range(5)] == [0.1, 0.1, 0.5, 0.0, 0.0]


def test_schedule_must_increase():
    with pytest.raises(ConfigError, match="real_data.*increasing"):
        Scenario().with_overrides({"real_data.schedule": [[3, 0.1], [2, 0.2]]})
    with pytest.raises(ConfigError, match="out of range"):
        Scenario().with_overrides({"real_data.schedule": [[1, 1.5]]})


def test_critic_filters_need_a_critic():
    with pytest.raises(ConfigError, match="curation: .*need critic"):
        Scenario().with_overrides({"curation.keep_best": 0.5})
    assert Scenario().with_overrides({"curation.critic": "self", "curation.keep_best": 0.5})


def test_critics_real_is_an_ngram_of_real_text_built_once(critics, tok, ancestor, heard):
    assert all(critics.get(kind, 3) is ancestor for kind in ("ancestor", "self", "none"))
    real = critics.get("real", 3)
    assert real is not ancestor and critics.get("real", 5) is real  # built once, first order
    expected = fit(tok, REAL, order=3).score(heard)
    np.testing.assert_array_equal(real.score(heard)[0], expected[0])


def test_critic_keeps_the_best_share(critics, heard):
    keep = curator(critics).mask(heard, CurationConfig(critic="real", keep_best=0.25))
    assert keep.sum() == math.ceil(0.25 * len(heard))
    ppl = text_perplexities(critics.get("real", 3), heard)
    assert ppl[keep].max() <= ppl[~keep].min()
    assert all(GRAMMAR.is_grammatical(t) for t in np.array(heard)[keep])


def test_critic_threshold_keeps_only_plausible_text(critics, ancestor, heard):
    ppl = text_perplexities(ancestor, heard)
    threshold = float(np.median(ppl))
    config = CurationConfig(critic="ancestor", max_perplexity=threshold)
    keep = curator(critics).mask(heard, config)
    np.testing.assert_array_equal(keep, ppl <= threshold)
    assert 0.4 < keep.mean() < 0.6


def test_self_critic_judges_by_the_listeners_own_model(critics, tok, heard):
    # A listener that learned these very scrambled texts finds them familiar; the ancestor
    # (the critic when no listener is given) prefers grammatical text.
    listener = fit(tok, heard[1::2])
    config = CurationConfig(critic="self", keep_best=0.5)
    by_listener = curator(critics).mask(heard, config, listener=listener)
    by_ancestor = curator(critics).mask(heard, config)
    grammatical = np.array([GRAMMAR.is_grammatical(t) for t in heard])
    assert grammatical[by_listener].mean() < 0.2
    assert grammatical[by_ancestor].mean() > 0.8
    ppl = text_perplexities(listener, heard)
    assert ppl[by_listener].max() <= ppl[~by_listener].min()


@pytest.mark.parametrize("accuracy", [1.0, 0.0])
def test_verifier_is_exact_on_the_grammar(critics, heard, accuracy):
    keep = curator(critics, grammar=GRAMMAR).mask(heard, CurationConfig(verifier_accuracy=accuracy))
    grammatical = np.array([GRAMMAR.is_grammatical(t) for t in heard])
    assert 0 < grammatical.sum() < len(heard)
    np.testing.assert_array_equal(keep, grammatical == (accuracy == 1.0))


def test_noisy_verifier_is_right_at_its_accuracy(critics):
    good = GRAMMAR.generate(500, np.random.default_rng(5))
    texts = good + scrambled(good)
    rng, replay = np.random.default_rng(6), np.random.default_rng(6)
    keep = curator(critics, grammar=GRAMMAR, rng=rng).mask(
        texts, CurationConfig(verifier_accuracy=0.8)
    )
    truth = np.array([GRAMMAR.is_grammatical(t) for t in texts])
    # 1,000 verdicts: the binomial standard error is 0.013
    assert 0.76 < np.mean(keep == truth) < 0.84
    # one uniform per heard text, in order, from the society's generator
    np.testing.assert_array_equal(keep, np.where(replay.random(len(texts)) < 0.8, truth, ~truth))
    assert rng.bit_generator.state == replay.bit_generator.state


def test_verifier_draws_nothing_when_nothing_is_left(critics, heard):
    rng = np.random.default_rng(7)
    before = rng.bit_generator.state
    config = CurationConfig(min_words=100, verifier_accuracy=0.5)
    assert not curator(critics, grammar=GRAMMAR, rng=rng).mask(heard, config).any()
    assert rng.bit_generator.state == before


@pytest.mark.parametrize("kind", ["real", "ancestor", "self"])
def test_verifier_on_a_real_corpus_judges_by_the_critic(critics, heard, kind):
    # Without a grammar the truth is: the critic (the ancestor for "self") finds the text no
    # less likely than the verifier_quantile share of held-out real texts.
    config = CurationConfig(critic=kind, verifier_accuracy=1.0, verifier_quantile=0.5)
    judge = critics.get(kind, 3)
    threshold = np.quantile(text_perplexities(judge, HELDOUT), 0.5)
    chosen = curator(critics)
    assert chosen.acceptable(HELDOUT, config).mean() == pytest.approx(0.5, abs=0.03)
    truth = text_perplexities(judge, heard) <= threshold
    assert 0 < truth.sum() < len(heard)
    np.testing.assert_array_equal(chosen.acceptable(heard, config), truth)
    if kind != "self":  # "self" also filters by the listener's model
        np.testing.assert_array_equal(chosen.mask(heard, config), truth)


def test_critic_perplexities_are_memoised(critics, ancestor):
    scored = []

    class Counting:
        def score(self, texts):
            scored.append(list(texts))
            return ancestor.score(texts)

    critics.ancestor = Counting()
    chosen = curator(critics)
    texts = ["the man sleeps .", "a dog runs .", "the man sleeps ."]
    first = chosen.perplexities(texts, "ancestor", 3)
    np.testing.assert_array_equal(first, text_perplexities(ancestor, texts))
    second = chosen.perplexities(["a dog runs .", "my cat sings ."], "ancestor", 3)
    assert scored == [["the man sleeps .", "a dog runs ."], ["my cat sings ."]]
    assert second[0] == first[1]


@pytest.mark.parametrize(("unlabelled", "expected"), [("keep", [0, 1, 3]), ("drop", [0, 3])])
def test_human_labels_decide_what_is_kept(critics, tmp_path, unlabelled, expected):
    labels = tmp_path / "labels.csv"
    labels.write_text('text,label\n"the man sleeps .",yes\na dog .,no\nmy cat .,yes\n')
    texts = ["the man sleeps .", "your bird sings .", "a dog .", "my cat ."]
    config = CurationConfig(labels=str(labels), unlabelled=unlabelled)
    keep = curator(critics, labels=str(labels)).mask(texts, config)
    assert np.flatnonzero(keep).tolist() == expected


def test_a_bad_labels_file_fails_when_the_curator_is_built(critics, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\na,perhaps\n")
    with pytest.raises(LabelsError, match="bad.csv: row 1"):
        curator(critics, labels=str(bad))


def test_parse_label():
    assert [parse_label(v) for v in ("1", "yes", "Keep", "0", "bad", "", None, 1.0)] == [
        True, True, True, False, False, None, None, True,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="maybe"):
        parse_label("maybe")


def test_load_labels_csv_and_jsonl(tmp_path):
    csv = tmp_path / "l.csv"
    csv.write_text('round,agent,text,label\n1,2,"the man , sleeps .",no\n1,3,a dog .,yes\n1,4,x,\n')
    assert load_labels(csv) == {"the man , sleeps .": False, "a dog .": True}
    jsonl = tmp_path / "l.jsonl"
    jsonl.write_text(
        json.dumps({"text": "a", "label": 1}) + "\n" + json.dumps({"text": "b", "label": 0})
    )
    assert load_labels(jsonl) == {"a": True, "b": False}


def test_bad_labels_name_the_file_and_row(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\na,yes\nb,perhaps\n")
    with pytest.raises(LabelsError, match="bad.csv: row 2"):
        load_labels(bad)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("text,verdict\na,yes\n")
    with pytest.raises(LabelsError, match="columns text and label"):
        load_labels(nocol)


# End to end: what the remedies do to a society over rounds.


@pytest.fixture(scope="module")
def grammar():
    return load_corpus("grammar", max_texts=800)


@pytest.fixture(scope="module")
def base() -> Scenario:
    overrides = {
        "rounds": 3,
        "network.kind": "complete",
        "network.agents": 4,
        "real_data.source": "grammar",
        "real_data.max_texts": 800,
        "language_model.discount": 0.1,
        "speech.utterances": 60,
        "speech.max_tokens": 20,
        "listening.texts": 120,
        "tokenizer.vocab_size": 400,
        "metrics.heldout_texts": 30,
        "metrics.every": 100,
        **cheap_metrics(),
    }
    return Scenario().with_overrides(overrides)


def run(society: Society, rounds: int) -> Society:
    for _ in range(rounds):
        society.step()
    return society


def speech(society: Society) -> list[str]:
    return [u for a in society.agents for u in a.utterances]


def test_mixing_schedule_sets_the_real_share_each_round(base, grammar):
    s = Society(base, corpus=grammar, real_data_schedule=[[2, 0.5], [3, 0.0]])
    real = []
    for _ in range(3):
        s.step()
        real.append({sum(src == -1 for src, _ in a.heard) for a in s.agents})
    assert real == [{0}, {60}, {0}]


def test_self_critic_uses_the_listeners_own_model(base, grammar):
    s = Society(base, corpus=grammar, curation_critic="self", curation_keep_best=0.5)
    assert s.critic() is s.ancestor  # what selection and the verifier use with "self"
    s.step()
    agent = next(iter(s.agents))
    # The listener has just learned from what it kept; before learning it used its old model,
    # which here is still the ancestor for everyone, so the kept half is the ancestor's best.
    kept = text_perplexities(s.ancestor, agent.kept)
    dropped = text_perplexities(s.ancestor, [t for t in agent.heard_texts if t not in agent.kept])
    assert kept.max() <= dropped.min()
    s.scenario = s.scenario.with_overrides({"curation.critic": "real"})
    assert isinstance(s.critic(), NGramLM) and s.critic() is s.critics.get("real", 3)


def test_critic_filter_trades_diversity_for_plausibility(base, grammar):
    plain = run(Society(base, corpus=grammar), 3)
    filtered = run(Society(base, corpus=grammar, curation_critic="real", curation_keep_best=0.4), 3)
    critic = filtered.critic()
    ppl_plain = np.median(text_perplexities(critic, speech(plain)))
    ppl_filtered = np.median(text_perplexities(critic, speech(filtered)))
    assert ppl_filtered < 0.8 * ppl_plain

    def distinct(texts):
        words = " ".join(texts).split()
        bigrams = list(zip(words, words[1:], strict=False))
        return len(set(bigrams)) / len(bigrams)

    assert distinct(speech(filtered)) < distinct(speech(plain))


def test_verifier_keeps_the_society_grammatical(base, grammar):
    plain = run(Society(base, corpus=grammar), 3)
    verified = run(Society(base, corpus=grammar, curation_verifier_accuracy=0.9), 3)
    g = grammar.grammar
    assert g.grammatical_share(speech(verified)) > g.grammatical_share(speech(plain)) + 0.2


def test_labels_errors_reach_the_user_as_one_line(base, grammar, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\na,perhaps\n")
    with pytest.raises(ConfigError, match=r"^scn.toml: curation.labels: .*row 1"):
        build_society(base.with_overrides({"curation.labels": str(bad)}), origin="scn.toml")
    with pytest.raises(ConfigError, match="labels file not found"):
        base.with_overrides({"curation.labels": str(tmp_path / "missing.csv")})


def test_human_labels_filter_what_listeners_keep(base, grammar, tmp_path):
    # Label every round-0 utterance: those with "man" bad, the rest good.
    probe = Society(base, corpus=grammar)
    said = speech(probe)
    rows = ["text,label"] + [
        '"{}",{}'.format(t.replace('"', '""'), "no" if "man" in t.split() else "yes") for t in said
    ]
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    s = Society(base, corpus=grammar, curation_labels=str(labels), curation_unlabelled="drop")
    assert speech(s) == said  # same seed, same round-0 speech
    s.step()
    for agent in s.agents:
        assert agent.kept
        assert not any("man" in t.split() for t in agent.kept)
    before = sum(t.split().count("man") for t in said)
    after = sum(t.split().count("man") for t in speech(s))
    assert before > 20 and after < before / 5
