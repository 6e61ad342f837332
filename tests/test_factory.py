"""The factory builds every kind of language model; the lm package imports in one direction."""

import ast
from pathlib import Path

import networkx as nx
import pytest
import torch

from society.config import NGramConfig, TransformerConfig
from society.lm.base import LanguageModel
from society.lm.errors import ModelError
from society.lm.factory import build_language_model, resolve_device, settings_from, shape_from
from society.lm.tokenizer import SharedTokenizer

# peft calls a transformers method that transformers deprecates
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

LM = Path(__file__).resolve().parent.parent / "society" / "lm"
TINY = {"layers": 1, "width": 16, "heads": 2, "context": 16, "threads": 1}


@pytest.fixture(scope="module")
def tokenizer():
    return SharedTokenizer.train([f"the fox {i} sees the owl." for i in range(60)], 300, 2)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tokenizer):
    """A local GPT-2 and a local Llama checkpoint, each with the tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("checkpoints")
    eos = tokenizer.eos_id
    gpt2 = GPT2Config(
        vocab_size=tokenizer.vocab_size, n_positions=24, n_embd=16, n_layer=1, n_head=2
    )
    llama = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=24,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    torch.manual_seed(0)
    for name, model in (("gpt2", GPT2LMHeadModel(gpt2)), ("llama", LlamaForCausalLM(llama))):
        model.save_pretrained(root / name)
        tokenizer.as_transformers().save_pretrained(root / name)
    return root


def test_an_ngram_table_builds_an_empty_ngram(tokenizer):
    from society.lm.ngram import NGramLM

    lm = build_language_model(NGramConfig(order=2, discount=0.5, memory=0.25), tokenizer)
    assert isinstance(lm, NGramLM) and isinstance(lm, LanguageModel)
    assert (lm.order, lm.discount, lm.memory) == (2, 0.5, 0.25)
    assert lm.tokenizer is tokenizer


def test_shape_keys_build_a_seeded_gpt2(tokenizer):
    from society.lm.transformer import TransformerLM

    config = TransformerConfig(**TINY, epochs=3, ancestor_epochs=5, precision="fp32")
    lm = build_language_model(config, tokenizer)
    assert isinstance(lm, TransformerLM) and lm.tokens is tokenizer
    assert lm.shape == shape_from(config, tokenizer.vocab_size)
    assert (lm.shape.layers, lm.shape.width, lm.window) == (1, 16, 16)
    assert (lm.settings.epochs, lm.ancestor_settings.epochs) == (3, 5)
    assert (lm.settings, lm.ancestor_settings) == settings_from(config, "fp32")
    assert lm.agents_per_batch == 1 and lm.device == torch.device("cpu")
    again = build_language_model(config, tokenizer)
    assert all(torch.equal(lm.params[k], again.params[k]) for k in lm.params)


def test_a_gpt2_checkpoint_takes_the_fast_path(tokenizer, checkpoints):
    from society.lm.tokens import CheckpointTokens
    from society.lm.transformer import TransformerLM

    config = TransformerConfig(**TINY, path=str(checkpoints / "gpt2"))
    lm = build_language_model(config, tokenizer)
    assert isinstance(lm, TransformerLM) and isinstance(lm.tokens, CheckpointTokens)
    assert lm.shape.context == 24 and lm.window == 16  # the checkpoint's, cut to `context`


def test_other_checkpoints_take_the_general_path_and_lora_a_population(tokenizer, checkpoints):
    from society.lm.hf import HFCausalLM

    llama = build_language_model(
        TransformerConfig(**TINY, path=str(checkpoints / "llama")), tokenizer
    )
    assert isinstance(llama, HFCausalLM) and not llama.lora
    assert llama.model.config.model_type == "llama"
    from society.lm.lora_population import LoRAAgent

    lora = build_language_model(TransformerConfig(**TINY, lora=True, lora_rank=2), tokenizer)
    assert isinstance(lora, LoRAAgent) and lora.tokens is tokenizer
    assert lora.state() and all("lora" in name for name in lora.state())
    on_llama = build_language_model(
        TransformerConfig(**TINY, path=str(checkpoints / "llama"), lora=True), tokenizer
    )
    assert isinstance(on_llama, LoRAAgent)
    assert on_llama.population.model.config.model_type == "llama"


def test_a_checkpoint_that_cannot_be_used_is_a_model_error(tokenizer, tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "no-such-model"}')
    with pytest.raises(ModelError):
        build_language_model(TransformerConfig(path=str(tmp_path)), tokenizer)


def test_device_resolution(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")


# ---------------------------------------------------------------- imports


def lm_imports() -> nx.DiGraph:
    """Edges module -> society.lm module it imports: top level, in functions, TYPE_CHECKING."""
    modules = {f"society.lm.{p.stem}": p for p in LM.glob("*.py") if p.stem != "__init__"}
    modules["society.lm"] = LM / "__init__.py"
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
                targets += [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                if target in modules and target != name:
                    graph.add_edge(name, target)
    return graph


def test_the_scan_sees_every_kind_of_import():
    graph = lm_imports()
    assert graph.has_edge("society.lm.factory", "society.lm.transformer")  # in a function
    assert graph.has_edge("society.lm.factory", "society.lm.tokens")  # under TYPE_CHECKING
    assert graph.has_edge("society.lm.transformer", "society.lm.sampler")  # top level
    assert graph.has_edge("society.lm", "society.lm.request")  # the package's own


def test_the_lm_package_has_no_import_cycle():
    graph = lm_imports()
    assert list(nx.simple_cycles(graph)) == []
    assert not graph.has_edge("society.lm.hf", "society.lm.transformer")
    assert not graph.has_edge("society.lm.transformer", "society.lm.hf")
    assert set(graph.predecessors("society.lm.factory")) == {"society.lm.ancestor_cache"}
