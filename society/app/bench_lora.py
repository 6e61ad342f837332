"""``society bench``'s ``lora_population`` item: N LoRA agents on one base, against peft.

One round: every agent learns its own texts, then says ``utterances`` texts. Ours is a
:class:`society.lm.lora_population.LoRAPopulation` (one batched training pass, one
KV-cached sampling batch with per-row adapters); the reference is written the way a
researcher would: one peft ``PeftModel`` per agent, its own AdamW loop over the same
batches (same steps, rows, learning rate, clipping), then ``model.generate`` with the
same number of texts and tokens; each side's fastest of a few alternating rounds counts.
The base is a small GPT-2 made in a temporary
directory with ``save_pretrained`` (random weights: speed does not depend on them), its
tokenizer trained on the bundled KJV. Model construction is not timed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from society.lm.request import SpeechRequest

TARGET_CPU = 1.5
TARGET_CUDA = 3.0
"""Speedup targets of the issue: the population round against the per-agent peft loop."""


def make_base(directory: Path, texts: list[str], width: int = 128, layers: int = 4) -> str:
    """Save a small GPT-2 (no dropout) and a tokenizer of ``texts`` to ``directory``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from society.lm.tokenizer import SharedTokenizer

    tokenizer = SharedTokenizer.train(texts, 2000, 2)
    eos = tokenizer.eos_id
    config = GPT2Config(
        vocab_size=tokenizer.vocab_size,
        n_positions=128,
        n_embd=width,
        n_layer=layers,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.as_transformers().save_pretrained(directory)
    return str(directory)


def _config(path: str, device: str):  # noqa: ANN202 - TransformerConfig
    from society.config.language_model import TransformerConfig

    return TransformerConfig(
        path=path,
        lora=True,
        lora_rank=8,
        lora_alpha=16.0,
        context=64,
        batch_size=8,
        epochs=1.0,
        learning_rate=1e-3,
        device=device,
        precision="fp32",
    )


def ours(path: str, device: str, data: list[list[str]], utterances: int, max_tokens: int):  # noqa: ANN201
    """Seconds of one population round, generated tokens, and the population."""
    from society.lm.base import sample_many
    from society.lm.factory import build_language_model

    first = build_language_model(_config(path, device), None)
    agents = [first.clone() for _ in data]
    requests = [
        SpeechRequest(utterances, rng=np.random.default_rng(i), max_tokens=max_tokens)
        for i in range(len(agents))
    ]
    _sync(device)
    start = time.perf_counter()
    for agent, texts in zip(agents, data, strict=True):
        agent.update(texts)
    said = sample_many(agents, requests)
    _sync(device)
    seconds = time.perf_counter() - start
    tokens = sum(len(ids) for texts in said for ids in first.tokens.encode_batch(texts))
    return seconds, tokens, agents


def naive(path: str, device: str, data: list[list[str]], utterances: int, max_tokens: int):  # noqa: ANN201
    """Seconds of the same round with one peft model per agent, AdamW, then ``generate``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from society.lm.packing import IGNORE, documents
    from society.lm.tokens import CheckpointTokens
    from society.lm.train import batch_schedule, texts_seed

    config = _config(path, device)
    tokens = CheckpointTokens(path)
    eos = tokens.eos_id
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        target_modules="all-linear",
        lora_dropout=0.0,
        fan_in_fan_out=True,  # GPT-2's Conv1D
        task_type="CAUSAL_LM",
    )
    models = [
        get_peft_model(AutoModelForCausalLM.from_pretrained(path, local_files_only=True), lora).to(
            device
        )
        for _ in data
    ]
    _sync(device)
    start = time.perf_counter()
    generated = 0
    for model, texts in zip(models, data, strict=True):
        docs = [d[: config.context] for d in documents(tokens.encode_batch(texts), eos)]
        steps, batch = (
            max(1, int(np.ceil(config.epochs * len(docs) / config.batch_size))),
            min(config.batch_size, len(docs)),
        )
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=config.learning_rate,
            betas=(0.9, 0.95),
        )
        model.train()
        for rows in batch_schedule(len(docs), steps, batch, texts_seed(texts)):
            chosen = [docs[i] for i in rows]
            width = max(len(d) for d in chosen)
            ids = torch.full((len(chosen), width), eos, dtype=torch.long)
            labels = torch.full((len(chosen), width), IGNORE, dtype=torch.long)
            for i, d in enumerate(chosen):
                ids[i, : len(d)] = torch.as_tensor(d)
                labels[i, : len(d)] = torch.as_tensor(d)
            loss = model(input_ids=ids.to(device), labels=labels.to(device)).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            out = model.generate(
                input_ids=torch.full((utterances, 1), eos, dtype=torch.long, device=device),
                attention_mask=torch.ones((utterances, 1), dtype=torch.long, device=device),
                do_sample=True,
                max_new_tokens=max_tokens,
                pad_token_id=eos,
                eos_token_id=eos,
            )
        new = out[:, 1:].cpu().numpy()
        ends = np.where((new == eos).any(1), (new == eos).argmax(1), new.shape[1])
        generated += int(ends.sum())
    _sync(device)
    return time.perf_counter() - start, generated


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def lora_population(
    device: str = "cpu",
    agents: int = 8,
    texts: int = 32,
    utterances: int = 16,
    max_tokens: int = 32,
    width: int = 128,
    layers: int = 4,
    repeats: int = 2,
) -> dict[str, Any]:
    """One round of ``agents`` LoRA agents: ours against one peft model per agent.

    Args:
        device: ``cpu`` or ``cuda``.
        agents: agents in the round.
        texts: texts each agent learns.
        utterances: texts each agent says.
        max_tokens: longest utterance.
        width: the base GPT-2's embedding width.
        layers: its blocks.
        repeats: rounds timed on each side, alternating (the fastest counts).

    Returns:
        ``speedup`` (naive / ours seconds), each side's seconds and tokens/s (trained plus
        generated tokens), and bytes per agent (ours: adapter + AdamW moments; naive:
        its own base copy too), with the target for the device; on CUDA also the
        allocated bytes per agent measured over the population's round.
    """
    import torch

    from society.corpora import load_corpus

    if device == "cuda" and not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    corpus = load_corpus("kjv", max_texts=3000)
    rng = np.random.default_rng(1)
    data = [
        [corpus.train[i] for i in rng.choice(len(corpus.train), texts, replace=False)]
        for _ in range(agents)
    ]
    with tempfile.TemporaryDirectory() as directory:
        path = make_base(Path(directory), corpus.train, width, layers)
        ours(path, device, data[:1], 1, 4)  # warm-up: first-call costs are not the round's
        ours_s = naive_s = float("inf")
        for _ in range(repeats):  # alternating, so a change in load favours neither side
            allocated = _allocated(device)
            seconds, ours_generated, population = ours(path, device, data, utterances, max_tokens)
            measured = _allocated(device) - allocated - population[0].population.base_bytes()
            ours_s = min(ours_s, seconds)
            seconds, naive_generated = naive(path, device, data, utterances, max_tokens)
            naive_s = min(naive_s, seconds)
    pool = population[0].population
    trained = sum(
        min(len(ids) + 2, 64) for texts_ in data for ids in pool.tokens.encode_batch(texts_)
    )
    per_agent = population[0].bytes()
    out = {
        "device": device,
        "agents": agents,
        "base_params": sum(p.numel() for p in pool.model.parameters()),
        "ours_s": ours_s,
        "naive_s": naive_s,
        "speedup": naive_s / ours_s,
        "ours_tokens_per_s": (trained + ours_generated) / ours_s,
        "naive_tokens_per_s": (trained + naive_generated) / naive_s,
        "base_bytes": pool.base_bytes(),
        "bytes_per_agent": per_agent,
        "naive_bytes_per_agent": pool.base_bytes() + per_agent,
        "target": TARGET_CUDA if device == "cuda" else TARGET_CPU,
    }
    if device == "cuda":
        out["cuda_bytes_per_agent"] = measured / agents
    return out


def _allocated(device: str) -> int:
    """Bytes torch has allocated on the CUDA device (0 elsewhere)."""
    import torch

    return torch.cuda.memory_allocated() if device == "cuda" else 0
