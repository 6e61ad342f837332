"""Mutation: temperature schedules and token-level noise, and what they do to speech."""

import numpy as np
import pytest

from society.config import ConfigError, Scenario
from society.lm.tokenizer import SharedTokenizer
from society.metrics.text import tokenize_all
from society.sim.model import Society
from society.sim.mutation import (
    corpus_vocabulary,
    temperature_at,
    token_noise,
    whole_character_tokens,
)
from tests.cheap_metrics import cheap_metrics
from tests.test_utf8 import strict_ok


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


def test_temperature_schedule(base):
    scenario = base.with_overrides(
        {"speech.temperature": 0.9, "mutation.temperature_schedule": [[2, 0.5], [4, 1.5]]}
    )
    assert [temperature_at(scenario, r) for r in (0, 1, 2, 3, 4, 7)] == [
        0.9, 0.9, 0.5, 0.5, 1.5, 1.5,
    ]  # fmt: skip
    linear = scenario.with_overrides({"mutation.interpolate": "linear"})
    assert temperature_at(linear, 3) == pytest.approx(1.0)


def test_temperature_schedule_is_validated(base):
    with pytest.raises(ConfigError, match="temperatures must be > 0"):
        base.with_overrides({"mutation.temperature_schedule": [[0, 0.0]]})
    with pytest.raises(ConfigError, match="increasing"):
        base.with_overrides({"mutation.temperature_schedule": [[3, 1.0], [1, 1.0]]})


def test_token_noise_known_answers(base, grammar_600):
    s = Society(base, corpus=grammar_600)
    tok, rng = s.tokenizer, np.random.default_rng(0)
    texts = ["the man sleeps .", "my old dogs run quickly ."]
    assert token_noise(texts, 0.0, tok, rng, corpus_vocabulary(s)) == texts
    the = tok.encode_batch([" the"])[0]
    assert len(the) == 1
    lengths = [len(ids) for ids in tok.encode_batch(texts)]
    mutated = token_noise(texts, 1.0, tok, rng, np.array(the))
    assert [m.split() for m in mutated] == [["the"] * n for n in lengths]


def test_noise_draws_only_tokens_of_real_text(base, grammar_600):
    s = Society(base, corpus=grammar_600)
    vocabulary = corpus_vocabulary(s)
    used = np.unique(np.concatenate(s.tokenizer.encode_batch(grammar_600.train)))
    np.testing.assert_array_equal(vocabulary, used)
    assert s.tokenizer.eos_id not in vocabulary


def test_noise_never_draws_part_of_a_character():
    rare = "鬱龘齉麤爨驫鱻靐"  # too rare for their three bytes to merge into one token
    texts = [f"über façade {w} naïve {i}" for i, w in enumerate(["süß", "déjà", *rare] * 10)]
    tok = SharedTokenizer.train(texts, 300, 2)
    used = np.unique(np.concatenate(tok.encode_batch(texts)))
    partial = [i for i in used if tok.pieces[i] is not None and not strict_ok(tok.pieces[i])]
    assert partial  # the byte-level vocabulary does split some characters
    vocabulary = whole_character_tokens(tok, texts)
    assert set(vocabulary) == set(used) - set(partial) - {tok.eos_id}


def test_token_noise_brings_neologisms(base, grammar_600):
    plain = Society(base, corpus=grammar_600)
    noisy = Society(base, corpus=grammar_600, mutation_token_noise=0.1)
    for society in (plain, noisy):
        society.step()
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
