"""LoRA populations: many adapters on one frozen base, batched like one agent at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from society.config.language_model import TransformerConfig
from society.lm.base import perplexity, sample_many
from society.lm.factory import build_language_model
from society.lm.lora_population import LoRAAgent
from society.lm.request import SpeechRequest
from society.lm.tokenizer import SharedTokenizer

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

ANIMALS = ["fox", "hen", "owl", "cat", "dog", "yak", "eel", "bee"]
TEXTS = [
    f"The {ANIMALS[i % 8]} sees the {ANIMALS[(3 * i + 1) % 8]} at {i % 13}." for i in range(160)
]
AGENTS = 16


@pytest.fixture(scope="module")
def tokenizer():
    return SharedTokenizer.train(TEXTS, 300, 2)


def _save(model, tokenizer, path):
    model.save_pretrained(path)
    tokenizer.as_transformers().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tokenizer):
    """Tiny GPT-2 (Conv1D layers), OPT and Llama (linear layers) checkpoints, saved locally."""
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        OPTConfig,
        OPTForCausalLM,
    )

    root = tmp_path_factory.mktemp("bases")
    eos, vocab = tokenizer.eos_id, tokenizer.vocab_size
    ids = {"bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos}
    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(
        GPT2Config(vocab_size=vocab, n_positions=32, n_embd=32, n_layer=2, n_head=2, **ids)
    )
    opt = OPTForCausalLM(
        OPTConfig(
            vocab_size=vocab,
            hidden_size=32,
            ffn_dim=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=64,
            word_embed_proj_dim=32,
            **ids,
        )
    )
    llama = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=vocab,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=64,
            **ids,
        )
    )
    return {
        name: _save(m, tokenizer, root / name)
        for name, m in [("gpt2", gpt2), ("opt", opt), ("llama", llama)]
    }


def population(tokenizer, path, **extra) -> LoRAAgent:
    keys = {
        "path": path,
        "lora": True,
        "lora_rank": 4,
        "context": 32,
        "learning_rate": 1e-2,
        "epochs": 2,
        "ancestor_epochs": 2,
        "batch_size": 4,
        "device": "cpu",
        "precision": "fp32",
    }
    config = TransformerConfig(**(keys | extra))
    return build_language_model(config, tokenizer)


def data(i: int) -> list[str]:
    """Agent ``i``'s texts: different animals and amounts, some with the same plan."""
    return [t for t in TEXTS if ANIMALS[i % 8] in t][: 6 + i % 3]


def request(i: int) -> SpeechRequest:
    return SpeechRequest(3, rng=np.random.default_rng(100 + i), max_tokens=10)


@pytest.mark.parametrize("base", ["gpt2", "opt", "llama"])
def test_sixteen_agents_batched_equal_each_trained_alone(tokenizer, checkpoints, base):
    ancestor = population(tokenizer, checkpoints[base])
    ancestor.fit(TEXTS[:40])
    together = [ancestor.clone() for _ in range(AGENTS)]
    for i, agent in enumerate(together):
        agent.update(data(i))
    said = sample_many(
        together, [request(i) for i in range(AGENTS)]
    )  # one training, one sampling pass
    probe = [tokenizer.eos_id, *tokenizer.encode_batch(["The owl sees"])[0].tolist()]
    for i in range(AGENTS):
        alone = ancestor.clone()
        alone.update(data(i))
        assert alone.sample(request(i)) == said[i]
        np.testing.assert_allclose(together[i].logits(probe), alone.logits(probe), atol=1e-5)
    assert len({tuple(s) for s in said}) == AGENTS  # agents differ (own data, own seeds)


def test_each_adapter_learns_its_own_data_and_leaves_others(tokenizer, checkpoints):
    ancestor = population(tokenizer, checkpoints["gpt2"], epochs=10)
    ancestor.fit(TEXTS[:40])
    fox, hen = ancestor.clone(), ancestor.clone()
    fox_texts = [t for t in TEXTS if "fox" in t]
    before = perplexity(*fox.score(fox_texts[:8]))
    fox.update(fox_texts[:20])
    hen.update([t for t in TEXTS if "hen" in t][:20])
    assert perplexity(*fox.score(fox_texts[:8])) < 0.97 * before
    assert perplexity(*ancestor.score(fox_texts[:8])) == pytest.approx(before, rel=1e-9)
    assert fox.population is hen.population is ancestor.population


def test_memory_per_added_agent_is_its_adapter_and_optimizer_state(tokenizer, checkpoints):
    ancestor = population(tokenizer, checkpoints["gpt2"])
    pool = ancestor.population
    agents = [ancestor.clone() for _ in range(AGENTS)]
    for i, agent in enumerate(agents):
        agent.update(data(i))
    sample_many(agents, [request(i) for i in range(AGENTS)])
    assert all(agent.bytes() == 3 * pool.adapter_bytes() for agent in agents)  # A, B; 2 moments
    assert pool.adapter_bytes() < 0.2 * pool.base_bytes()
    frozen = [p for p in pool.model.parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)
    storages = {
        t.untyped_storage().data_ptr() for a in agents for pair in a.adapter.values() for t in pair
    }
    assert len(storages) == AGENTS * 2 * len(pool.layers)  # no agent pins another's tensors


def test_adapters_are_peft_adapters(tokenizer, checkpoints, tmp_path):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    agent = population(tokenizer, checkpoints["gpt2"])
    agent.fit(TEXTS[:40])
    agent.save_pretrained(tmp_path / "adapter")
    base = AutoModelForCausalLM.from_pretrained(checkpoints["gpt2"], local_files_only=True)
    model = peft.PeftModel.from_pretrained(base, str(tmp_path / "adapter")).eval()
    ids = [tokenizer.eos_id, *tokenizer.encode_batch([TEXTS[5]])[0].tolist()]
    with torch.no_grad():
        theirs = model(input_ids=torch.tensor([ids])).logits[0].numpy()
        merged = agent.to_transformers()(input_ids=torch.tensor([ids])).logits[0].numpy()
    np.testing.assert_allclose(theirs, agent.logits(ids), atol=1e-5)
    np.testing.assert_allclose(merged, agent.logits(ids), atol=1e-4)
    bare = AutoModelForCausalLM.from_pretrained(checkpoints["gpt2"], local_files_only=True)
    with torch.no_grad():
        assert np.abs(bare(input_ids=torch.tensor([ids])).logits[0].numpy() - theirs).max() > 1e-3


def test_state_round_trips_and_rejects_other_shapes(tokenizer, checkpoints):
    agent = population(tokenizer, checkpoints["llama"])
    agent.fit(TEXTS[:40])
    state = agent.state()
    assert state and all(k.startswith("base_model.model.") and ".lora_" in k for k in state)
    other = population(tokenizer, checkpoints["llama"])
    other.load(state)
    np.testing.assert_allclose(other.score(TEXTS[:4])[0], agent.score(TEXTS[:4])[0], rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        population(tokenizer, checkpoints["llama"], lora_rank=2).load(state)


def test_targets_choose_the_adapted_layers(tokenizer, checkpoints):
    everything = population(tokenizer, checkpoints["llama"]).population.layers
    assert "lm_head" not in everything and any(n.endswith("mlp.down_proj") for n in everything)
    some = population(tokenizer, checkpoints["llama"], lora_targets=["q_proj", "v_proj"]).population
    assert some.layers and all(n.endswith(("q_proj", "v_proj")) for n in some.layers)
    with pytest.raises(Exception, match="no linear layer"):
        population(tokenizer, checkpoints["llama"], lora_targets=["nothing"])


def test_prompts_and_repetition_penalty_in_the_shared_batch(tokenizer, checkpoints):
    ancestor = population(tokenizer, checkpoints["opt"])
    ancestor.fit(TEXTS[:80])
    greedy = {"temperature": 1e-6, "max_tokens": 6}
    prompts = ["The fox sees the", "The hen"] * 2
    said = ancestor.sample(
        SpeechRequest(4, rng=np.random.default_rng(1), prompts=prompts, **greedy)
    )
    assert said[0] == said[2] and said[1] == said[3]
    plain = SpeechRequest(2, rng=np.random.default_rng(2), max_tokens=12, top_k=1)
    penalised = SpeechRequest(
        2, rng=np.random.default_rng(2), max_tokens=12, top_k=1, repetition_penalty=50.0
    )
    assert ancestor.sample(plain) != ancestor.sample(penalised)


def test_stacked_adamw_is_torch_adamw_per_agent():
    from society.lm.lora_train import BETAS, _adamw
    from society.lm.train import TrainSettings

    settings = TrainSettings(learning_rate=0.1, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(2, 3, 4, generator=generator)
    grads = [torch.randn(2, 3, 4, generator=generator) for _ in range(3)]
    stacked, first, second = start.clone(), torch.zeros_like(start), torch.zeros_like(start)
    for step, grad in enumerate(grads, 1):
        stacked.grad = grad
        _adamw([stacked], [first], [second], torch.tensor([float(step)] * 2), settings)
    for agent in range(2):
        alone = start[agent].clone().requires_grad_(True)
        optimizer = torch.optim.AdamW([alone], lr=0.1, weight_decay=0.01, betas=BETAS)
        for grad in grads:
            alone.grad = grad[agent].clone()
            optimizer.step()
        torch.testing.assert_close(stacked[agent], alone.detach())
