"""A tiny GPT-2 checkpoint saved with ``save_pretrained``, for tests that load local weights."""

from __future__ import annotations

from pathlib import Path

import torch

from society.lm.tokenizer import SharedTokenizer


def save_tiny_gpt2(
    path: Path,
    tokenizer: SharedTokenizer,
    *,
    positions: int = 32,
    layers: int = 1,
    width: int = 32,
    heads: int = 2,
) -> Path:
    """Save a freshly initialised GPT-2 (seed 0) and ``tokenizer`` to ``path``; return it."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=tokenizer.vocab_size,
        n_positions=positions,
        n_embd=width,
        n_layer=layers,
        n_head=heads,
        bos_token_id=tokenizer.eos_id,
        eos_token_id=tokenizer.eos_id,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.as_transformers().save_pretrained(path)
    return Path(path)
