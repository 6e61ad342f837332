"""Mutation: temperature schedules and token-level noise, and what they do to speech."""

import numpy as np
import pytest

from society.config import ConfigError, Scenario
from society.lm.tokenizer import SharedTokenizer
from society.metrics.text import tokenize_all
from society.sim.model import Society
from society.sim.mutation import temperature_at, token_noise, whole_character_tokens
from tests.cheap_metrics import cheap_metrics
from tests.test_utf8 import strict_ok

TEXTS = [
    "the man sleeps .",
    "my old dogs run quickly .",
    "a woman sees the dog .",
    "the dogs sleep near the river .",
] * 5


@pytest.fixture(scope="module")
def tok() -> SharedTokenizer:
    return SharedTokenizer.train(TEXTS, 300, 1)


def state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def test_temperature_schedule():
    scenario = Scenario().with_overrides(
        {"speech.temperature": 0.9, "mutation.temperature_schedule": [[2, 0.5], [4, 1.5]]}
    )
    assert [temperature_at(scenario, r) for r in (0, 1, 2, 3, 4, 7)] == [
        0.9, 0.9, 0.5, 0.5, 1.5, 1.5,
    ]  # fmt: skip
    linear = scenario.with_overrides({"mutation.interpolate": "linear"})
    assert temperature_at(linear, 3) == pytest.approx(1.0)


def test_temperature_schedule_is_validated():
    with pytest.raises(ConfigError, match="temperatures must be > 0"):
        Scenario().with_overrides({"mutation.temperature_schedule": [[0, 0.0]]})
    with pytest.raises(ConfigError, match="increasing"):
        Scenario().with_overrides({"mutation.temperature_schedule": [[3, 1.0], [1, 1.0]]})


def test_no_noise_returns_the_texts_and_draws_nothing(tok):
    rng = np.random.default_rng(0)
    before = state(rng)
    vocabulary = whole_character_tokens(tok, TEXTS)
    assert token_noise(TEXTS[:2], 0.0, tok, rng, vocabulary) == TEXTS[:2]
    assert token_noise([], 0.5, tok, rng, vocabulary) == []
    assert state(rng) == before


def test_full_noise_replaces_every_token(tok):
    texts = TEXTS[:2]
    the = tok.encode_batch([" the"])[0]
    assert len(the) == 1
    lengths = [len(ids) for ids in tok.encode_batch(texts)]
    mutated = token_noise(texts, 1.0, tok, np.random.default_rng(0), np.array(the))
    assert [m.split() for m in mutated] == [["the"] * n for n in lengths]


def test_noise_draws_one_uniform_per_token_then_one_index_per_hit(tok):
    # The society's stream must advance the same way whatever calls token_noise.
    texts = TEXTS[:3]
    vocabulary = whole_character_tokens(tok, TEXTS)
    ids = tok.encode_batch(texts)
    flat = np.concatenate(ids)
    rng, replay = np.random.default_rng(5), np.random.default_rng(5)
    mutated = token_noise(texts, 0.4, tok, rng, vocabulary)
    hit = replay.random(len(flat)) < 0.4
    flat[hit] = vocabulary[replay.integers(0, len(vocabulary), size=int(hit.sum()))]
    assert 0 < hit.sum() < len(flat)
    assert state(rng) == state(replay)
    pieces = np.split(flat, np.cumsum([len(a) for a in ids])[:-1])
    assert mutated == tok.decode_batch(pieces)


def test_noise_replaces_tokens_at_its_rate(tok):
    texts = TEXTS * 10
    z = tok.encode_batch(["z"])[0][-1:]  # a letter the texts never use
    assert tok.decode_batch([z]) == ["z"]
    mutated = token_noise(texts, 0.3, tok, np.random.default_rng(1), z)
    tokens = sum(len(ids) for ids in tok.encode_batch(texts))
    assert sum(t.count("z") for t in mutated) / tokens == pytest.approx(0.3, abs=0.04)


def test_noise_vocabulary_is_the_tokens_real_text_uses(tok):
    vocabulary = whole_character_tokens(tok, TEXTS)
    used = np.unique(np.concatenate(tok.encode_batch(TEXTS)))
    np.testing.assert_array_equal(vocabulary, used)
    assert tok.eos_id not in vocabulary
    assert len(whole_character_tokens(tok, TEXTS[:1])) < len(vocabulary)


def test_noise_never_draws_part_of_a_character():
    rare = "鬱龘齉麤爨驫鱻靐"  # too rare for their three bytes to merge into one token
    texts = [f"über façade {w} naïve {i}" for i, w in enumerate(["süß", "déjà", *rare] * 10)]
    tok = SharedTokenizer.train(texts, 300, 2)
    used = np.unique(np.concatenate(tok.encode_batch(texts)))
    partial = [i for i in used if tok.pieces[i] is not None and not strict_ok(tok.pieces[i])]
    assert partial  # the byte-level vocabulary does split some characters
    vocabulary = whole_character_tokens(tok, texts)
    assert set(vocabulary) == set(used) - set(partial) - {tok.eos_id}


# End to end: the society draws noise from its real training text, and noise and
# temperature change what agents say.


@pytest.fixture(scope="module")
def base() -> Scenario:
    overrides = {
        "rounds": 2,
        "network.kind": "complete",
        "network.agents": 3,
        "real_data.source": "grammar",
        "real_data.max_texts": 600,
        "speech.utterances": 100,
        "speech.max_tokens": 20,
        "tokenizer.vocab_size": 400,
        "metrics.heldout_texts": 20,
        "metrics.every": 100,
        **cheap_metrics(),
    }
    return Scenario().with_overrides(overrides)


def neologism_share(society, texts) -> float:
    """Share of word tokens that never occur in the real corpus."""
    real = {w for t in tokenize_all(society.corpus.train + society.corpus.heldout) for w in t}
    said = [w for t in tokenize_all(texts) for w in t]
    return float(np.mean([w not in real for w in said]))


def test_token_noise_brings_neologisms(base, grammar_600):
    plain = Society(base, corpus=grammar_600)
    noisy = Society(base, corpus=grammar_600, mutation_token_noise=0.1)
    for society in (plain, noisy):
        society.step()
    assert "noise_vocabulary" not in vars(plain)  # built only when noise is on
    np.testing.assert_array_equal(
        noisy.noise_vocabulary, whole_character_tokens(noisy.tokenizer, grammar_600.train)
    )
    said = [u for a in plain.agents for u in a.utterances]
    noisy_said = [u for a in noisy.agents for u in a.utterances]
    assert neologism_share(noisy, noisy_said) > neologism_share(plain, said) + 0.05


def test_temperature_schedule_changes_speech_mid_run(base, grammar_600):
    s = Society(base, corpus=grammar_600, mutation_temperature_schedule=[[0, 0.5], [2, 2.0]])
    cold = [u for a in s.agents for u in a.utterances]
    s.step()
    s.step()
    hot = [u for a in s.agents for u in a.utterances]
    assert neologism_share(s, hot) > neologism_share(s, cold) + 0.05
