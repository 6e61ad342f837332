"""Training and scoring of stacked GPT models on packed rows.

Training ``A`` models together is exactly training each alone: the loss is the sum of
the per-model mean losses (so each model's gradient is its own), AdamW acts element-wise,
gradients are clipped per model, and each model draws its batches from its own seeded
permutation of its own rows.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from society.lm.gpt import (
    GPTShape,
    Params,
    document_mask,
    hidden_states,
    is_decayed,
    logits,
    single,
)
from society.lm.packing import IGNORE, Packed
from society.lm.precision import autocast


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of one training call.

    Attributes:
        learning_rate: AdamW learning rate (constant).
        weight_decay: AdamW decoupled weight decay on matrices.
        batch_size: packed rows per step.
        epochs: passes over the data (used when ``steps`` is None).
        steps: optimizer steps (overrides ``epochs``).
        dropout: dropout probability.
        grad_clip: per-model gradient norm clip (0: none).
        precision: ``fp32``, or ``bf16`` mixed precision (see :mod:`society.lm.precision`).
    """

    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 16
    epochs: float = 1.0
    steps: int | None = None
    dropout: float = 0.0
    grad_clip: float = 1.0
    precision: str = "fp32"

    def plan(self, rows: int) -> tuple[int, int]:
        """``(steps, rows per step)`` for a model with ``rows`` packed rows."""
        batch = max(1, min(self.batch_size, rows))
        if self.steps is not None:
            return self.steps, batch
        return max(1, math.ceil(self.epochs * rows / batch)), batch


def texts_seed(texts: Sequence[str]) -> int:
    """A seed determined by the training texts (same data, same batches)."""
    return zlib.crc32("\x1e".join(texts).encode("utf-8"))


def batch_schedule(rows: int, steps: int, batch: int, seed: int) -> np.ndarray:
    """Row indices ``(steps, batch)``: epochs of seeded permutations, consumed in order."""
    rng = np.random.default_rng(seed)
    need = steps * batch
    order = np.concatenate([rng.permutation(rows) for _ in range(-(-need // rows))])
    return order[:need].reshape(steps, batch)


def _to(array: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def stacked_loss(
    params: Params, shape: GPTShape, batch: list[Packed], device: torch.device, dropout: float
) -> torch.Tensor:
    """Sum over models of each model's mean next-token loss on its own rows."""
    inputs = _to(np.stack([p.inputs for p in batch]), device)
    targets = _to(np.stack([p.targets for p in batch]), device)
    positions = _to(np.stack([p.positions for p in batch]), device)
    mask = document_mask(_to(np.stack([p.docs for p in batch]), device))
    hidden = hidden_states(params, shape, inputs, positions, mask, dropout=dropout)
    out = logits(params, hidden).float()
    a = out.shape[0]
    token_loss = F.cross_entropy(
        out.reshape(-1, out.shape[-1]), targets.reshape(-1), ignore_index=IGNORE, reduction="none"
    ).view(a, -1)
    counts = (targets.view(a, -1) != IGNORE).sum(1).clamp(min=1)
    return (token_loss.sum(1) / counts).sum()


def _clip_per_model(params: Params, max_norm: float) -> None:
    grads = [p.grad for p in params.values() if p.grad is not None]
    norms = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))


@contextmanager
def _dropout_rng(dropout: float, seed: int, device: torch.device) -> Iterator[None]:
    """Seed dropout without touching the caller's random state (no-op without dropout)."""
    if dropout == 0:
        yield
        return
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def train_stack(
    models: list[Params],
    shape: GPTShape,
    data: list[Packed],
    seeds: list[int],
    settings: TrainSettings,
    device: torch.device,
) -> list[Params]:
    """Train ``len(models)`` models, each on its own packed rows, in one stacked loop.

    Every model must get the same ``settings.plan(len(rows))`` (callers group by it).

    Args:
        models: per-model parameters (not modified).
        shape: their common shape.
        data: per-model packed rows.
        seeds: per-model seeds for batch order and dropout.
        settings: optimisation settings.
        device: where to train.

    Returns:
        The trained per-model parameters (on ``device``).
    """
    plans = {settings.plan(len(rows)) for rows in data}
    if len(plans) != 1:
        raise ValueError(f"models in one stack need the same steps and batch, got {plans}")
    steps, batch = plans.pop()
    schedules = [batch_schedule(len(d), steps, batch, s) for d, s in zip(data, seeds, strict=True)]
    # a fixed parameter order: the per-model gradient norm sums over parameters, and a
    # different summation order changes the clipped gradients in the last bits
    params = {
        k: torch.stack([m[k] for m in models]).to(device).requires_grad_(True)
        for k in sorted(models[0])
    }
    groups = [
        {
            "params": [p for k, p in params.items() if is_decayed(k)],
            "weight_decay": settings.weight_decay,
        },
        {"params": [p for k, p in params.items() if not is_decayed(k)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(
        groups, lr=settings.learning_rate, betas=(0.9, 0.95), foreach=True
    )
    with _dropout_rng(settings.dropout, int(seeds[0]), device):
        for step in range(steps):
            rows = [d.take(s[step]) for d, s in zip(data, schedules, strict=True)]
            with autocast(settings.precision, device):
                loss = stacked_loss(params, shape, rows, device, settings.dropout)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if settings.grad_clip > 0:
                _clip_per_model(params, settings.grad_clip)
            optimizer.step()
    return [{k: v[i].detach().clone() for k, v in params.items()} for i in range(len(models))]


@torch.inference_mode()
def score_packed(
    params: Params,
    shape: GPTShape,
    packed: Packed,
    n_texts: int,
    device: torch.device,
    rows_per_pass: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-text total log-likelihood and scored-token counts of one model (``A = 1``).

    Args:
        params: stacked parameters with a leading axis of 1.
        shape: the model shape.
        packed: packed rows of the texts.
        n_texts: number of texts (owners run from 0 to ``n_texts - 1``).
        device: where to compute.
        rows_per_pass: rows per forward pass.

    Returns:
        float64 log-likelihoods (nats) and int64 token counts, one per text.
    """
    params = single(params)
    loglik = np.zeros(n_texts, dtype=np.float64)
    counts = np.zeros(n_texts, dtype=np.int64)
    for start in range(0, len(packed), rows_per_pass):
        part = packed.take(np.arange(start, min(start + rows_per_pass, len(packed))))
        inputs = _to(part.inputs[None], device)
        hidden = hidden_states(
            params,
            shape,
            inputs,
            _to(part.positions[None], device),
            document_mask(_to(part.docs, device)),
        )
        logp = torch.log_softmax(logits(params, hidden)[0].float(), dim=-1)
        targets = _to(part.targets, device)
        picked = logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
        owner = part.owner.reshape(-1)
        keep = owner >= 0
        values = picked.reshape(-1).double().cpu().numpy()[keep]
        loglik += np.bincount(owner[keep], weights=values, minlength=n_texts)
        counts += np.bincount(owner[keep], minlength=n_texts)
    return loglik, counts
