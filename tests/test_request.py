"""SpeechRequest: its defaults, its checks, and every backend honouring it."""

import dataclasses
from dataclasses import replace

import numpy as np
import pytest

from society.config import NGramConfig, TransformerConfig
from society.lm.base import sample_many
from society.lm.factory import build_language_model
from society.lm.request import SpeechRequest
from society.lm.tokenizer import SharedTokenizer

# peft calls a transformers method that transformers deprecates
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

ANIMALS = ["fox", "hen", "owl", "cat", "dog", "yak", "eel", "bee"]
TEXTS = [f"The {ANIMALS[i % 8]} sees the {ANIMALS[(3 * i + 1) % 8]}." for i in range(120)]
TEXTS += ["The fox sees the dog near the river."] * 20  # the most probable text
NEURAL = {"layers": 1, "width": 16, "heads": 2, "context": 32, "threads": 1}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_defaults_are_written_once():
    request = SpeechRequest(3, rng=rng())
    defaults = {f.name: f.default for f in dataclasses.fields(SpeechRequest)}
    assert defaults["n"] is dataclasses.MISSING and defaults["rng"] is dataclasses.MISSING
    assert (request.max_tokens, request.temperature, request.top_p) == (40, 1.0, 1.0)
    assert (request.top_k, request.min_p, request.repetition_penalty) == (0, 0.0, 1.0)
    assert request.prompts is None and request.neural_only() == {}
    with pytest.raises(TypeError):
        SpeechRequest(3, rng(), 20)  # everything but n is a keyword


def test_a_request_is_frozen_and_keeps_its_prompts():
    prompts = ["a", "b"]
    request = SpeechRequest(2, rng=rng(), prompts=prompts)
    prompts.append("c")
    assert request.prompts == ("a", "b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.temperature = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad",
    [
        {"temperature": 0.0},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"top_k": -1},
        {"min_p": 1.0},
        {"repetition_penalty": 0.0},
        {"max_tokens": -1},
        {"prompts": ["only one"]},
    ],
)
def test_bad_requests_are_refused(bad):
    with pytest.raises(ValueError):
        SpeechRequest(2, rng=rng(), **bad)


def test_sampling_key_ignores_only_rng_and_prompts():
    a = SpeechRequest(2, rng=rng(1), prompts=["x", "y"], top_k=3)
    b = SpeechRequest(2, rng=rng(2), top_k=3)
    assert a.sampling_key() == b.sampling_key()
    assert a.sampling_key() != replace(b, min_p=0.1).sampling_key()
    assert a.neural_only() == {"top_k": 3}


# ---------------------------------------------------------------- every backend


@pytest.fixture(scope="module")
def tokenizer():
    return SharedTokenizer.train(TEXTS, 300, 2)


BACKENDS = {
    "ngram": NGramConfig(order=3),
    "transformer": TransformerConfig(**NEURAL),
    "lora": TransformerConfig(**NEURAL, lora=True, lora_rank=2),
}


@pytest.fixture(scope="module", params=list(BACKENDS))
def backend(request, tokenizer):
    lm = build_language_model(BACKENDS[request.param], tokenizer)
    if request.param == "ngram":
        lm.fit(TEXTS)  # an empty n-gram model is uniform: every token ties
    return request.param, lm


def test_every_backend_honours_n_rng_and_max_tokens(backend):
    _, lm = backend
    free = lm.sample(SpeechRequest(6, rng=rng(1), max_tokens=12))
    assert len(free) == 6 and len(set(free)) > 1
    assert lm.sample(SpeechRequest(6, rng=rng(1), max_tokens=12)) == free
    assert lm.sample(SpeechRequest(6, rng=rng(2), max_tokens=12)) != free
    assert lm.sample(SpeechRequest(0, rng=rng(1))) == []
    short = lm.sample(SpeechRequest(6, rng=rng(1), max_tokens=2))
    assert sum(len(s) for s in short) < sum(len(f) for f in free)


def test_every_backend_honours_temperature_and_top_p(backend):
    _, lm = backend
    for narrow in ({"temperature": 1e-6}, {"top_p": 1e-6}):
        texts = lm.sample(SpeechRequest(6, rng=rng(3), max_tokens=8, **narrow))
        assert len(set(texts)) == 1, narrow  # the most probable text, six times


def test_every_backend_honours_prompts(backend):
    _, lm = backend
    greedy = {"temperature": 1e-6, "max_tokens": 6}
    prompts = ["The fox sees the", "The hen sees the"] * 2
    said = lm.sample(SpeechRequest(4, rng=rng(4), prompts=prompts, **greedy))
    assert said[0] == said[2] and said[1] == said[3]
    free = lm.sample(SpeechRequest(4, rng=rng(4), **greedy))
    assert said != free


def test_transformer_backends_honour_their_own_keys(backend):
    name, lm = backend
    if name == "ngram":
        for key, value in {"top_k": 1, "min_p": 0.5, "repetition_penalty": 1.2}.items():
            with pytest.raises(ValueError, match=f"n-gram sampler has no {key}"):
                lm.sample(SpeechRequest(2, rng=rng(), **{key: value}))
        return
    for narrow in ({"top_k": 1}, {"min_p": 0.999999}):
        texts = lm.sample(SpeechRequest(6, rng=rng(5), max_tokens=8, **narrow))
        assert len(set(texts)) == 1, narrow
    greedy = lm.sample(SpeechRequest(2, rng=rng(5), max_tokens=16, top_k=1))
    penalty = SpeechRequest(2, rng=rng(5), max_tokens=16, top_k=1, repetition_penalty=50.0)
    assert lm.sample(penalty) != greedy


def test_sample_many_gives_each_model_its_own_request(backend):
    _, lm = backend
    models = [lm.clone(), lm.clone()]
    requests = [SpeechRequest(3, rng=rng(7), max_tokens=6), SpeechRequest(2, rng=rng(8), top_p=0.5)]
    alone = [models[0].sample(replace(requests[0], rng=rng(7)))]
    alone.append(models[1].sample(replace(requests[1], rng=rng(8))))
    assert sample_many(models, requests) == alone
    assert [len(texts) for texts in alone] == [3, 2]
