import numpy as np
import pytest
import torch

from society.config import Scenario, TransformerConfig
from society.lm.base import LanguageModel, perplexity
from society.lm.factory import build_language_model
from society.lm.gpt import GPTShape, init_params
from society.lm.packing import IGNORE, best_fit, documents, pack, windows
from society.lm.request import SpeechRequest
from society.lm.sampler import SamplingSettings, next_tokens, sample_stack
from society.lm.tokenizer import SharedTokenizer
from society.lm.train import TrainSettings, train_stack
from society.lm.transformer import TransformerLM
from tests.tiny_checkpoints import save_tiny_gpt2

TINY = {
    "kind": "transformer",
    "layers": 2,
    "width": 32,
    "heads": 2,
    "context": 32,
    "ancestor_epochs": 1,
    "batch_size": 8,
    "threads": 1,
}


@pytest.fixture(scope="module")
def texts():
    animals = ["fox", "hen", "owl", "cat", "dog", "yak", "eel", "bee"]
    verbs = ["sees", "chases", "follows", "greets", "ignores", "likes"]
    return [
        f"The {animals[i % 8]} {verbs[i % 6]} the {animals[(3 * i + 1) % 8]} near river {i % 17}."
        for i in range(300)
    ]


@pytest.fixture(scope="module")
def tokenizer(texts):
    return SharedTokenizer.train(texts, 300, 2)


def tiny(tokenizer, **extra) -> TransformerLM:
    return build_language_model(TransformerConfig(**(TINY | extra)), tokenizer)


@pytest.fixture(scope="module")
def trained(tokenizer, texts) -> TransformerLM:
    """A tiny model that has learnt the toy language (and where sentences end)."""
    lm = tiny(tokenizer, ancestor_epochs=20, learning_rate=3e-3)
    lm.fit(texts[:200])
    return lm


# ---------------------------------------------------------------- packing


def test_windows_score_every_target_once():
    ids = np.arange(12)  # 11 targets
    got = windows(ids, context=4, stride=2)
    scored = []
    for window, first in got:
        assert len(window) - 1 <= 4
        start = int(window[0])
        scored.extend(range(start + first, start + len(window) - 1))
    assert scored == list(range(11))


def test_pack_known_answer():
    docs = documents([np.array([5, 6]), np.array([7]), np.array([8, 9, 10])], eos_id=0)
    packed = pack(docs, context=5, pad_id=0)
    # inputs of 3, 2, 4 positions; best fit, longest first: [doc 2 + pad], [doc 0 + doc 1]
    np.testing.assert_array_equal(packed.inputs, [[0, 8, 9, 10, 0], [0, 5, 6, 0, 7]])
    np.testing.assert_array_equal(packed.targets, [[8, 9, 10, 0, IGNORE], [5, 6, 0, 7, 0]])
    np.testing.assert_array_equal(packed.positions, [[0, 1, 2, 3, 0], [0, 1, 2, 0, 1]])
    np.testing.assert_array_equal(packed.docs, [[0, 0, 0, 0, -1], [1, 1, 1, 2, 2]])
    np.testing.assert_array_equal(packed.owner, [[2, 2, 2, 2, -1], [0, 0, 0, 1, 1]])


def test_best_fit_known_answer():
    sizes = [5, 3, 1, 5, 3, 1, 5, 3, 1]
    rows = best_fit(sizes, 6)
    assert sorted(i for row in rows for i in row) == list(range(9))
    assert all(sum(sizes[i] for i in row) <= 6 for row in rows)
    assert len(rows) == 5  # optimal: three 5+1 rows, 3+3, 3


# ---------------------------------------------------------------- the model is GPT-2


def test_scores_equal_transformers_gpt2(tokenizer, texts):
    lm = tiny(tokenizer)
    hf = lm.to_transformers()
    sample = texts[:5] + [" ".join(texts[:6])]  # the last is longer than the context
    loglik, counts = lm.score(sample)
    for text, ll, count in zip(sample[:5], loglik[:5], counts[:5], strict=True):
        ids = [tokenizer.eos_id, *tokenizer.encode_batch([text])[0].tolist(), tokenizer.eos_id]
        assert count == len(ids) - 1
        with torch.no_grad():
            out = hf(torch.tensor([ids[:-1]])).logits[0].log_softmax(-1)
        expect = out[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum().item()
        assert ll == pytest.approx(expect, rel=1e-5)
    assert counts[-1] == len(tokenizer.encode_batch([sample[-1]])[0]) + 1


def test_greedy_sampling_equals_transformers_generate(tokenizer, trained):
    lm = trained
    prompt = tokenizer.encode_batch(["The fox"])[0]
    start = np.concatenate([[tokenizer.eos_id], prompt])
    stacked = {k: v[None] for k, v in lm.params.items()}
    (ours,) = sample_stack(
        stacked,
        lm.shape,
        [[start] * 3],
        12,
        SamplingSettings(top_k=1),
        [torch.Generator().manual_seed(0)],
        tokenizer.eos_id,
    )
    hf = lm.to_transformers()
    with torch.no_grad():
        ref = hf.generate(
            torch.from_numpy(start)[None],
            attention_mask=torch.ones(1, len(start), dtype=torch.long),
            do_sample=False,
            max_new_tokens=12,
            pad_token_id=tokenizer.eos_id,
        )[0, len(start) :].tolist()
    if tokenizer.eos_id in ref:
        ref = ref[: ref.index(tokenizer.eos_id)]
    for seq in ours:
        assert seq.tolist() == ref


def test_left_padding_does_not_change_a_prompt(tokenizer, trained):
    lm = trained
    prompts = [
        np.concatenate([[tokenizer.eos_id], p])
        for p in tokenizer.encode_batch(["The owl likes the", "A"])
    ]
    stacked = {k: v[None] for k, v in lm.params.items()}

    def greedy(batch):
        return sample_stack(
            stacked,
            lm.shape,
            [batch],
            10,
            SamplingSettings(top_k=1),
            [torch.Generator().manual_seed(0)],
            tokenizer.eos_id,
        )[0]

    together = greedy(prompts)
    for prompt, seq in zip(prompts, together, strict=True):
        assert greedy([prompt])[0].tolist() == seq.tolist()


# ---------------------------------------------------------------- sampling


def test_truncation_keeps_the_right_tokens():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    scores = probs.log()
    u = torch.linspace(0, 0.999, 400)[:, None]
    cases = {
        SamplingSettings(top_p=0.7): {0, 1},
        SamplingSettings(top_p=0.85): {0, 1, 2},
        SamplingSettings(top_k=1): {0},
        SamplingSettings(min_p=0.35): {0, 1},
        SamplingSettings(): {0, 1, 2, 3},
    }
    for settings, kept in cases.items():
        drawn = next_tokens(scores.expand(400, -1).clone(), None, settings, u)
        assert set(drawn.tolist()) == kept, settings
        share0 = float((drawn == 0).float().mean())
        assert share0 == pytest.approx(0.5 / probs[0, sorted(kept)].sum().item(), abs=0.01)


def test_repetition_penalty_and_temperature_known_answer():
    scores = torch.tensor([[2.0, -1.0, 0.5]])
    seen = torch.tensor([[True, True, False]])
    u = torch.tensor([[0.0]])
    # penalty 4: logits become [0.5, -4.0, 0.5]: tokens 0 and 2 tie, token 0 comes first
    settings = SamplingSettings(repetition_penalty=4.0)
    assert next_tokens(scores.clone(), seen, settings, u).item() == 0
    u = torch.tensor([[0.51]])
    assert next_tokens(scores.clone(), seen, settings, u).item() == 2
    cold = SamplingSettings(temperature=0.01)
    assert next_tokens(scores.clone(), None, cold, torch.tensor([[0.999]])).item() == 0


def test_same_seed_same_text_and_compaction_changes_nothing(tokenizer, trained):
    lm = trained
    a = lm.sample(SpeechRequest(30, rng=np.random.default_rng(5), max_tokens=20))
    b = lm.sample(SpeechRequest(30, rng=np.random.default_rng(5), max_tokens=20))
    c = lm.sample(SpeechRequest(30, rng=np.random.default_rng(6), max_tokens=20))
    assert a == b and a != c
    stacked = {k: v[None] for k, v in lm.params.items()}
    starts = [np.array([tokenizer.eos_id])] * 30
    runs = [
        sample_stack(
            stacked,
            lm.shape,
            [starts],
            20,
            SamplingSettings(),
            [torch.Generator().manual_seed(1)],
            tokenizer.eos_id,
            compact_below=share,
        )[0]
        for share in (0.0, 1.0)
    ]
    assert [s.tolist() for s in runs[0]] == [s.tolist() for s in runs[1]]
    lengths = {len(s) for s in runs[0]}
    assert len(lengths) > 1  # texts ended at different steps, so compaction did happen


def test_prompts_and_max_tokens(trained):
    lm = trained
    out = lm.sample(
        SpeechRequest(4, rng=np.random.default_rng(0), max_tokens=3, prompts=["The fox"] * 4)
    )
    assert len(out) == 4
    assert all(0 < len(t.split()) <= 3 for t in out)
    free = lm.sample(SpeechRequest(40, rng=np.random.default_rng(0), max_tokens=30))
    assert np.mean([t.split()[0] == "The" for t in free if t]) > 0.8  # learnt how texts start
    with pytest.raises(ValueError, match="prompts"):
        lm.sample(SpeechRequest(3, rng=np.random.default_rng(0), prompts=["a"]))


# ---------------------------------------------------------------- training


def test_stacked_training_equals_training_alone(tokenizer, texts):
    shape = GPTShape(vocab=tokenizer.vocab_size, context=16, layers=2, width=16, heads=2)
    settings = TrainSettings(learning_rate=3e-3, batch_size=4, steps=3, weight_decay=0.1)
    start = init_params(shape, torch.Generator().manual_seed(0))
    other = init_params(shape, torch.Generator().manual_seed(1))
    data = [
        pack(documents(tokenizer.encode_batch(part), tokenizer.eos_id), 16)
        for part in (texts[:30], texts[30:70])
    ]
    cpu = torch.device("cpu")
    together = train_stack([start, other], shape, data, [1, 2], settings, cpu)
    alone = [
        train_stack([p], shape, [d], [s], settings, cpu)[0]
        for p, d, s in ((start, data[0], 1), (other, data[1], 2))
    ]
    for got, expect, before in zip(together, alone, (start, other), strict=True):
        for name in expect:
            torch.testing.assert_close(got[name], expect[name], rtol=1e-4, atol=1e-5)
        assert not torch.equal(got["transformer.wte.weight"], before["transformer.wte.weight"])


def test_learning_lowers_perplexity_and_updates_are_batched(tokenizer, texts):
    ancestor = tiny(tokenizer, epochs=3, agents_per_batch=2)
    before = perplexity(*ancestor.score(texts[200:240]))
    ancestor.fit(texts[:200])
    fitted = perplexity(*ancestor.score(texts[200:240]))
    assert fitted < before / 2
    a, b = ancestor.clone(), ancestor.clone()
    narrow = [t for t in texts[:200] if "fox" in t]
    a.update(narrow)
    b.update(texts[:200])
    assert a._pending is not None and b._pending is not None
    fox = [t for t in texts[200:] if "fox" in t]
    ppl_a = perplexity(*a.score(fox))  # trains a and b together
    assert a._pending is None and b._pending is None
    assert ppl_a < perplexity(*ancestor.score(fox))
    alone = ancestor.clone()
    alone.update(narrow)
    np.testing.assert_allclose(alone.score(fox)[0], a.score(fox)[0], rtol=1e-4)


def test_state_load_clone(tokenizer, texts):
    lm = tiny(tokenizer)
    lm.fit(texts[:50])
    assert isinstance(lm, LanguageModel)
    other = tiny(tokenizer)
    other.load(lm.state())
    np.testing.assert_allclose(other.score(texts[:5])[0], lm.score(texts[:5])[0], rtol=1e-6)
    copy = lm.clone()
    copy.update(texts[50:100])
    copy.score(texts[:1])
    assert not np.allclose(copy.score(texts[:5])[0], lm.score(texts[:5])[0])
    with pytest.raises(ValueError, match="shape"):
        tiny(tokenizer, width=64).load(lm.state())


# ---------------------------------------------------------------- checkpoints as agents


def test_save_pretrained_checkpoint_fine_tunes_as_an_agent(tmp_path, tokenizer, texts):
    from transformers import GPT2LMHeadModel

    save_tiny_gpt2(tmp_path / "ckpt", tokenizer, layers=2)
    lm = tiny(tokenizer, path=str(tmp_path / "ckpt"), epochs=3)
    assert lm.shape.width == 32 and lm.tokens is not tokenizer
    hf = GPT2LMHeadModel.from_pretrained(tmp_path / "ckpt")
    ids = [tokenizer.eos_id, *tokenizer.encode_batch([texts[0]])[0].tolist(), tokenizer.eos_id]
    with torch.no_grad():
        logp = hf(torch.tensor([ids[:-1]])).logits[0].log_softmax(-1)
    expect = logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum().item()
    assert lm.score(texts[:1])[0][0] == pytest.approx(expect, rel=1e-5)
    before = perplexity(*lm.score(texts[:40]))
    lm.update(texts[:40])
    assert perplexity(*lm.score(texts[:40])) < before


def test_bad_checkpoint_path_is_a_config_error_at_preflight(tmp_path):
    from society.config import ConfigError
    from society.run.preflight import preflight

    scenario = Scenario().with_overrides(  # the file still validates: weights may be elsewhere
        {"language_model.kind": "transformer", "language_model.path": str(tmp_path)}
    )
    with pytest.raises(ConfigError, match="language_model.path: .* is not a checkpoint"):
        preflight(scenario, "s.toml", load_data=False)


# ---------------------------------------------------------------- the general path and LoRA


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory, tokenizer):
    return save_tiny_gpt2(tmp_path_factory.mktemp("gpt2"), tokenizer, layers=2)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # raised inside peft/transformers
def test_lora_agents_own_only_their_adapters(gpt2_dir, tokenizer, texts):
    from society.lm.lora_population import LoRAAgent

    base = tiny(tokenizer, path=str(gpt2_dir), lora=True, lora_rank=4, epochs=4, learning_rate=1e-2)
    assert isinstance(base, LoRAAgent)
    state = base.state()
    assert state and all("lora" in k for k in state)
    assert sum(v.size for v in state.values()) < 0.2 * sum(
        p.numel() for p in base.population.model.parameters()
    )
    a, b = base.clone(), base.clone()
    fox = [t for t in texts if "fox" in t]
    before = perplexity(*a.score(fox[:10]))
    a.update(fox[:30])
    assert perplexity(*a.score(fox[:10])) < before
    assert perplexity(*b.score(fox[:10])) == pytest.approx(before, rel=1e-6)  # b untouched
    ids = [tokenizer.eos_id, *tokenizer.encode_batch([texts[3]])[0].tolist()]
    merged = a.to_transformers()
    with torch.no_grad():
        theirs = merged(torch.tensor([ids])).logits[0].numpy()
    np.testing.assert_allclose(theirs, a.logits(ids), rtol=1e-4, atol=1e-4)
    c = base.clone()
    c.load(a.state())
    assert perplexity(*c.score(fox[:10])) == pytest.approx(perplexity(*a.score(fox[:10])))


def test_other_architectures_take_the_general_path(tmp_path, tokenizer, texts):
    from transformers import LlamaConfig, LlamaForCausalLM

    from society.lm.hf import HFCausalLM

    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=tokenizer.eos_id,
        eos_token_id=tokenizer.eos_id,
        pad_token_id=tokenizer.eos_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "llama")
    tokenizer.as_transformers().save_pretrained(tmp_path / "llama")
    lm = tiny(tokenizer, path=str(tmp_path / "llama"), epochs=3, learning_rate=3e-3)
    assert isinstance(lm, HFCausalLM) and isinstance(lm, LanguageModel)
    before = perplexity(*lm.score(texts[:30]))
    lm.update(texts[:60])
    assert perplexity(*lm.score(texts[:30])) < before
    a = lm.sample(
        SpeechRequest(4, rng=np.random.default_rng(1), max_tokens=8, prompts=["The fox", "A"] * 2)
    )
    b = lm.sample(
        SpeechRequest(4, rng=np.random.default_rng(1), max_tokens=8, prompts=["The fox", "A"] * 2)
    )
    assert a == b and len(a) == 4
    other = tiny(tokenizer, path=str(tmp_path / "llama"))
    other.load(lm.state())
    np.testing.assert_allclose(other.score(texts[:3])[0], lm.score(texts[:3])[0], rtol=1e-5)


# ---------------------------------------------------------------- generation 0, cached


def test_ancestor_is_cached_by_content(tmp_path, monkeypatch, tokenizer, texts):
    from society.lm.ancestor_cache import ancestor_key, build_ancestor

    monkeypatch.setenv("SOCIETY_CACHE", str(tmp_path))
    config = TransformerConfig(**TINY)
    first = build_ancestor(config, tokenizer, texts[:50])
    assert len(list((tmp_path / "ancestors").glob("*.safetensors"))) == 1

    def no_training(self, texts):
        raise AssertionError("the cached ancestor was trained again")

    monkeypatch.setattr(TransformerLM, "fit", no_training)
    again = build_ancestor(
        config.model_copy(update={"threads": 2, "epochs": 9}), tokenizer, texts[:50]
    )
    np.testing.assert_array_equal(again.score(texts[:3])[0], first.score(texts[:3])[0])
    key = ancestor_key(config, tokenizer, texts[:50])
    assert key != ancestor_key(config, tokenizer, texts[:49])
    assert key != ancestor_key(config.model_copy(update={"width": 64}), tokenizer, texts[:50])
    assert key != ancestor_key(
        config.model_copy(update={"ancestor_epochs": 2}), tokenizer, texts[:50]
    )


# ---------------------------------------------------------------- in a society


def test_speech_keys_reach_the_sampler():
    from society.config import ConfigError
    from society.sim.model import Society

    scenario = Scenario().with_overrides(
        {
            "rounds": 0,
            "network.kind": "complete",
            "network.agents": 2,
            **{f"language_model.{k}": v for k, v in TINY.items()},
            "speech.utterances": 6,
            "speech.max_tokens": 8,
            "speech.top_k": 1,
            "real_data.max_texts": 300,
            "tokenizer.vocab_size": 300,
            "metrics.heldout_texts": 10,
        }
    )
    society = Society(scenario)
    for agent in society.agents:  # greedy decoding from the same start: one text, 6 times
        assert len(set(agent.utterances)) == 1
    neural = Scenario().with_overrides({"language_model.kind": "transformer", "speech.top_k": 1})
    with pytest.raises(ConfigError, match="speech.top_k: needs language_model.kind"):
        neural.with_overrides({"language_model.kind": "ngram"})


def test_parallel_stacks_train_like_sequential_ones(tokenizer, texts):
    base = tiny(tokenizer)
    parts = [texts[:40], texts[40:90], texts[90:120]]

    def trained(threads):
        torch.set_num_threads(threads)
        models = [base.clone() for _ in parts]
        for lm, part in zip(models, parts, strict=True):
            lm.update(part)
        models[0].score(texts[:1])  # trains all three (two at a time with 2 threads)
        assert torch.get_num_threads() == threads
        return [lm.state() for lm in models]

    try:
        together, alone = trained(2), trained(1)
    finally:
        torch.set_num_threads(1)
    for a, b in zip(together, alone, strict=True):
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_device_is_a_one_line_config_error(tmp_path):
    from society.config import ConfigError
    from society.run.runner import run_scenario

    scenario = Scenario().with_overrides(
        {
            "language_model.kind": "transformer",
            "language_model.device": "cuda",
            "real_data.max_texts": 200,
            "tokenizer.vocab_size": 300,
        }
    )
    with pytest.raises(ConfigError, match="language_model: device = 'cuda'"):
        run_scenario(scenario, tmp_path / "run", origin="s.toml")
    assert not (tmp_path / "run").exists()


def test_agents_sample_together_as_they_would_alone(tokenizer, trained):
    from society.lm.base import sample_many

    models = [trained.clone() for _ in range(3)]
    prompts = ["The fox", "The owl", "The cat"]

    def requests():
        return [
            SpeechRequest(5, rng=np.random.default_rng(seed), max_tokens=10, prompts=[p] * 5)
            for seed, p in enumerate(prompts)
        ]

    torch.set_num_threads(1)
    alone = [lm.sample(request) for lm, request in zip(models, requests(), strict=True)]
    torch.set_num_threads(2)
    try:
        together = sample_many(models, requests())  # two at a time, one thread each
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert together == alone
    assert len({tuple(texts) for texts in together}) == 3  # each agent its own texts


def test_bf16_mixed_precision_trains_like_fp32(tokenizer, texts):
    held_out = texts[200:260]
    ppl = {}
    for precision in ("fp32", "bf16"):
        lm = tiny(tokenizer, precision=precision, ancestor_epochs=4, learning_rate=3e-3)
        assert lm.settings.precision == precision
        lm.fit(texts[:200])
        assert all(v.dtype == torch.float32 for v in lm.params.values())  # fp32 master weights
        ppl[precision] = perplexity(*lm.score(held_out))
    untrained = perplexity(*tiny(tokenizer).score(held_out))
    assert ppl["fp32"] < untrained / 5
    assert ppl["bf16"] == pytest.approx(ppl["fp32"], rel=0.05)


def test_precision_auto_follows_the_hardware(monkeypatch):
    from society.lm import precision

    cpu = torch.device("cpu")
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda native=native: native)
        assert precision.resolve_precision("auto", cpu) == expected
        assert precision.resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        precision.resolve_precision("fp8", cpu)


@pytest.mark.parametrize("activation", ["gelu", "gelu_new"])
def test_both_activations_match_transformers(tokenizer, texts, activation):
    lm = tiny(tokenizer, activation=activation)
    assert lm.hf_config().activation_function == activation
    ids = [tokenizer.eos_id, *tokenizer.encode_batch([texts[0]])[0].tolist()]
    with torch.no_grad():
        theirs = lm.to_transformers()(torch.tensor([ids])).logits[0].numpy()
    np.testing.assert_allclose(theirs, lm.logits(ids), rtol=1e-4, atol=1e-5)


def test_stacked_sampling_says_what_each_model_says_alone(texts, trained):
    from society.lm.transformer import sample_stacked

    other = trained.clone()
    other.update(texts[:30])
    models = [trained, other, trained.clone()]

    def requests():
        return [
            SpeechRequest(6, rng=np.random.default_rng(seed), max_tokens=12, temperature=0.9)
            for seed in (1, 2, 3)
        ]

    alone = [lm.sample(request) for lm, request in zip(models, requests(), strict=True)]
    stacked = sample_stacked(list(zip(models, requests(), strict=True)), size=2)
    assert stacked == alone
    assert stacked[0] != stacked[2]  # same weights, own seeds


def test_a_state_read_back_in_another_key_order_trains_bit_for_bit(tokenizer, texts):
    """safetensors files list names sorted: an ancestor read from the cache must train like
    the one trained in this process (the gradient norm sums over parameters in order)."""
    original = tiny(tokenizer)
    original.fit(texts[:100])
    restored = tiny(tokenizer)
    restored.load(dict(reversed(list(original.state().items()))))
    for lm in (original, restored):
        lm.update(texts[100:160])
    a, b = original.state(), restored.state()
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("vocab", [2003, 2000])  # a prime is padded; 2000 has blocks of 50
def test_two_level_inverse_cdf_picks_the_one_level_token(vocab):
    from society.lm.sampler import inverse_cdf

    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(300, vocab, generator=gen) ** 8  # uneven
    probs[:, 64:192] = 0  # empty blocks
    probs[0] = 0
    probs[0, vocab - 1] = 1.0  # only the last token (in the padded block if there is one)
    u = torch.rand(300, 1, generator=gen)
    u[1] = 0.0
    cdf = probs.cumsum(-1)
    expected = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)[:, 0]
    got = inverse_cdf(probs, u)
    assert (got == expected).float().mean() > 0.995  # rounding may differ on a boundary
    assert got[0] == vocab - 1 and got[1] == int((probs[1] > 0).nonzero()[0])
    assert bool((probs.gather(1, got[:, None]) > 0).all())
    near_one = inverse_cdf(probs, torch.full((300, 1), 1 - 1e-7))
    assert bool((probs.gather(1, near_one[:, None]) > 0).all())


def test_identical_prompts_are_run_once_and_copied(trained):
    from society.lm.gpt import KVCache, hidden_states, logits
    from society.lm.sampler import _prefill

    params, shape = {k: v[None] for k, v in trained.params.items()}, trained.shape
    ids = torch.tensor([[[0, 5, 9]] * 4])  # one model, four copies of one prompt
    positions = torch.arange(3).expand(1, 4, 3)
    once, every = (KVCache.empty(shape, 4, 5, torch.device("cpu")) for _ in range(2))
    with torch.inference_mode():
        scores = _prefill(params, shape, ids, positions, None, once)
        hidden = hidden_states(params, shape, ids, positions, None, cache=every)
        expected = logits(params, hidden[:, :, -1:]).view(4, -1)
    torch.testing.assert_close(scores, expected)
    for a, b in zip(once.keys + once.values, every.keys + every.values, strict=True):
        torch.testing.assert_close(a[:, :, :3], b[:, :, :3])


@pytest.mark.parametrize("masked", [False, True])
def test_flat_decoding_step_equals_the_general_forward_bit_for_bit(trained, masked):
    from society.lm.gpt import KVCache, block_weights, decode_one, hidden_states, logits, single

    params, shape = single(trained.params), trained.shape
    gen = torch.Generator().manual_seed(0)
    flat, general = (KVCache.empty(shape, 6, 9, torch.device("cpu")) for _ in range(2))
    for a, b in zip(flat.keys + flat.values, general.keys + general.values, strict=True):
        a.normal_(generator=gen)
        b.copy_(a)
    ids = torch.randint(0, shape.vocab, (6,), generator=gen)
    positions = torch.arange(6) + 2
    mask = torch.rand(6, 1, 1, 8, generator=gen) > 0.3 if masked else None
    if mask is not None:
        mask[..., -1] = True  # a token always sees itself
    with torch.inference_mode():
        got = decode_one(
            params, shape, block_weights(params, shape.layers), ids, positions, flat, 7, mask
        )
        hidden = hidden_states(
            params, shape, ids.view(1, 6, 1), positions.view(1, 6, 1), mask, cache=general, start=7
        )
        expected = logits(params, hidden).view(6, -1)
    assert torch.equal(got, expected)
    for a, b in zip(flat.keys + flat.values, general.keys + general.values, strict=True):
        assert torch.equal(a[:, :, :8], b[:, :, :8])
