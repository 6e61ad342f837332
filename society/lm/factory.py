"""Build a language model from its ``[language_model]`` table: the one place that knows them all.

- ``kind = "ngram"``: :class:`society.lm.ngram.NGramLM` over the run's tokenizer;
- ``kind = "transformer"``: a GPT-2 built from the shape keys, or a local GPT-2 checkpoint
  (``path``), takes the fast stacked path, :class:`society.lm.transformer.TransformerLM`;
  with ``lora = true``, one agent of a population of LoRA adapters on that shared frozen
  base, trained and sampled in batches (:class:`society.lm.lora_population.LoRAAgent`);
  any other local checkpoint, the general ``transformers`` path,
  :class:`society.lm.hf.HFCausalLM`.

The backends import nothing from here, and torch is imported only when a transformer is
built (an n-gram society never loads it).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from society.config.language_model import LanguageModelConfig, NGramConfig, TransformerConfig
from society.lm.base import LanguageModel
from society.lm.errors import ModelError

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

    from society.lm.gpt import GPTShape, Params
    from society.lm.hf import HFCausalLM
    from society.lm.lora_population import LoRAAgent
    from society.lm.ngram import NGramLM
    from society.lm.tokenizer import SharedTokenizer
    from society.lm.tokens import Tokens
    from society.lm.train import TrainSettings
    from society.lm.transformer import TransformerLM

INIT_SEED = 0
"""Seed of a GPT-2's random initialisation (part of the model config, so of its cache key)."""


def build_language_model(config: LanguageModelConfig, tokenizer: SharedTokenizer) -> LanguageModel:
    """Build an untrained model of the configured kind.

    Args:
        config: the scenario's ``[language_model]`` table.
        tokenizer: the run's shared tokenizer (a checkpoint brings its own).

    Returns:
        A backend implementing :class:`society.lm.base.LanguageModel`.

    Raises:
        ModelError: a transformer's checkpoint cannot be read or used, or its device is
            missing (one line).
    """
    if isinstance(config, NGramConfig):
        return build_ngram(config, tokenizer)
    return build_transformer(config, tokenizer)


def build_ngram(config: NGramConfig, tokenizer: SharedTokenizer) -> NGramLM:
    """An empty n-gram model of the table's order, discount and memory."""
    from society.lm.ngram import NGramLM

    return NGramLM(tokenizer, order=config.order, discount=config.discount, memory=config.memory)


def build_transformer(
    config: TransformerConfig, tokenizer: Tokens
) -> TransformerLM | HFCausalLM | LoRAAgent:
    """The neural backend for a ``kind = "transformer"`` table (see the module docstring).

    Each LoRA table builds its own population (one base); clones of its agent share it.

    Raises:
        ModelError: the checkpoint cannot be read or used, or the device is missing.
    """
    try:
        if config.lora:
            return _lora(config, tokenizer)
        if config.path and not is_gpt2_checkpoint(config.path):
            return _general(config, tokenizer)
        return _gpt2(config, tokenizer)
    except ImportError as error:
        if (error.name or "").split(".")[0] in NEURAL_MODULES:
            raise ModelError(
                f"needs the 'neural' extra ({error.name} is not installed): "
                "pip install 'society[neural]'"
            ) from None
        raise ModelError(_first_line(error)) from None
    except (OSError, ValueError) as error:
        raise ModelError(_first_line(error)) from None


#: Packages of the neural backend, installed by ``pip install 'society[neural]'``.
NEURAL_MODULES = frozenset({"torch", "transformers", "peft"})


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ---------------------------------------------------------------------- device and shapes


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU.

    Raises:
        ValueError: ``cuda`` was asked for and there is none.
    """
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device = 'cuda' but no CUDA device is available")
    return torch.device(name)


def resolved_precision(config: TransformerConfig) -> str:
    """The training precision ``config`` gets on this machine (``auto`` resolved)."""
    from society.lm.precision import resolve_precision

    return resolve_precision(config.precision, resolve_device(config.device))


def shape_from(config: TransformerConfig, vocab: int) -> GPTShape:
    """The GPT-2 shape a ``[language_model]`` table builds for a ``vocab``-id tokenizer."""
    from society.lm.gpt import GPTShape

    return GPTShape(
        vocab=vocab,
        context=config.context,
        layers=config.layers,
        width=config.width,
        heads=config.heads,
        activation=config.activation,
    )


def settings_from(
    config: TransformerConfig, precision: str = "fp32"
) -> tuple[TrainSettings, TrainSettings]:
    """Per-round and generation-0 training settings of a ``[language_model]`` table.

    Args:
        config: the table.
        precision: the resolved precision (:func:`resolved_precision`).
    """
    from society.lm.train import TrainSettings

    settings = TrainSettings(
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        batch_size=config.batch_size,
        epochs=config.epochs,
        steps=config.steps,
        dropout=config.dropout,
        grad_clip=config.grad_clip,
        precision=precision,
    )
    return settings, replace(settings, epochs=config.ancestor_epochs, steps=None)


# ---------------------------------------------------------------------- checkpoints


def is_gpt2_checkpoint(path: str | Path) -> bool:
    """Whether a local checkpoint is a GPT-2 the fast path can hold."""
    from transformers import AutoConfig

    from society.lm.gpt import ACTIVATIONS

    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    return (
        config.model_type == "gpt2"
        and config.activation_function in ACTIVATIONS
        and bool(getattr(config, "tie_word_embeddings", True))
    )


def load_gpt2_checkpoint(path: str | Path) -> tuple[GPTShape, Callable[[], Params]]:
    """Read a local GPT-2 checkpoint's shape, and a loader of its weights.

    Raises:
        ValueError: the checkpoint is not a tied-embedding GPT-2 with GELU.
    """
    from transformers import AutoConfig, GPT2LMHeadModel

    from society.lm.gpt import ACTIVATIONS, GPTShape

    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    if config.model_type != "gpt2":
        raise ValueError(f"{path}: model_type {config.model_type!r} is not gpt2")
    if config.activation_function not in ACTIVATIONS or not config.tie_word_embeddings:
        raise ValueError(
            f"{path}: only GPT-2 with {' or '.join(ACTIVATIONS)} and tied embeddings is supported"
        )
    shape = GPTShape.from_hf_config(config)
    names = set(shape.param_shapes())

    def initial() -> Params:
        model = GPT2LMHeadModel.from_pretrained(
            str(path), local_files_only=True, use_safetensors=True
        )
        return {k: v.detach().float().clone() for k, v in model.state_dict().items() if k in names}

    return shape, initial


# ---------------------------------------------------------------------- the two paths


def _gpt2(config: TransformerConfig, tokenizer: Tokens) -> TransformerLM:
    """The fast path: a GPT-2 from the shape keys (seeded init) or a GPT-2 checkpoint."""
    import torch

    from society.lm.gpt import init_params
    from society.lm.tokens import CheckpointTokens
    from society.lm.transformer import TransformerLM

    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    settings, ancestor = settings_from(config, resolved_precision(config))
    if config.path:
        tokens: Tokens = CheckpointTokens(config.path)
        shape, initial = load_gpt2_checkpoint(config.path)
    else:
        tokens = tokenizer
        shape = shape_from(config, tokenizer.vocab_size)

        def initial() -> Params:
            return init_params(shape, torch.Generator().manual_seed(INIT_SEED))

    stack = config.agents_per_batch or (16 if device.type == "cuda" else 1)
    window = min(config.context, shape.context)
    return TransformerLM(tokens, shape, settings, ancestor, initial, device, stack, window)


def base_dtype(config: TransformerConfig, device: torch.device) -> torch.dtype:
    """A frozen base's weights: bfloat16 on CUDA where bf16 is native (unless fp32), else fp32."""
    import torch

    if device.type == "cuda" and resolved_precision(config) == "bf16":
        return torch.bfloat16
    return torch.float32


def _base_model(config: TransformerConfig, tokenizer: Tokens, dtype: torch.dtype):  # noqa: ANN202
    """The checkpoint at ``path`` with its tokenizer, or a seeded GPT-2 from the shape keys."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    from society.lm.tokens import CheckpointTokens

    if config.path:
        model = AutoModelForCausalLM.from_pretrained(
            config.path, local_files_only=True, dtype=dtype
        )
        return model, CheckpointTokens(config.path)
    shape = shape_from(config, tokenizer.vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        model = GPT2LMHeadModel(GPT2Config(**shape.hf_config(tokenizer.eos_id)))
    return model.to(dtype), tokenizer


def _lora(config: TransformerConfig, tokenizer: Tokens) -> LoRAAgent:
    """A new LoRA population on the table's base; returns its first agent."""
    import torch

    from society.lm.lora_population import LoRAPopulation, LoRASettings

    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    settings, ancestor = settings_from(config, resolved_precision(config))
    model, tokens = _base_model(config, tokenizer, base_dtype(config, device))
    limit = getattr(model.config, "max_position_embeddings", None) or config.context
    lora = LoRASettings(
        rank=config.lora_rank,
        alpha=config.lora_alpha,
        targets=tuple(config.lora_targets),
        init_seed=INIT_SEED,
    )
    population = LoRAPopulation(
        model.to(device),
        tokens,
        lora,
        settings,
        ancestor,
        min(config.context, int(limit)),
        config.agents_per_batch,
    )
    return population.agent()


def _general(config: TransformerConfig, tokenizer: Tokens) -> HFCausalLM:
    """Any local ``transformers`` checkpoint (or a GPT-2 from the keys), LoRA if asked."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    from society.lm.hf import HFCausalLM
    from society.lm.tokens import CheckpointTokens

    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    settings, ancestor = settings_from(config, resolved_precision(config))
    if config.path:
        tokens: Tokens = CheckpointTokens(config.path)
        model = AutoModelForCausalLM.from_pretrained(
            config.path, local_files_only=True, dtype=torch.float32, use_safetensors=True
        )
    else:
        tokens = tokenizer
        shape = shape_from(config, tokenizer.vocab_size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED)
            model = GPT2LMHeadModel(GPT2Config(**shape.hf_config(tokenizer.eos_id)))
    limit = getattr(model.config, "max_position_embeddings", None) or config.context
    context = min(config.context, int(limit))
    if config.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            target_modules="all-linear",
            lora_dropout=0.0,
            task_type="CAUSAL_LM",
            fan_in_fan_out=model.config.model_type == "gpt2",  # GPT-2 uses Conv1D
        )
        model = get_peft_model(model, lora)
    model = model.to(device).eval()
    return HFCausalLM(model, tokens, settings, ancestor, context, config.lora)
