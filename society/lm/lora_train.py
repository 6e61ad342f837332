"""Training many agents' LoRA adapters in one pass over a shared frozen base.

Training ``K`` agents together is training each alone: every step takes ``batch`` rows of
each agent (its own seeded schedule), the loss is the sum of the per-agent mean token
losses (so each adapter's gradient is its own), gradients are clipped per agent, and
AdamW acts element-wise with each agent's own step count and moments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from society.lm.lora_layers import Adapter, Router, routed
from society.lm.packing import IGNORE
from society.lm.precision import autocast
from society.lm.train import TrainSettings, batch_schedule

BETAS = (0.9, 0.95)
EPS = 1e-8


@dataclass
class Moments:
    """One agent's AdamW state: first and second moments per module, and its step count."""

    first: Adapter
    second: Adapter
    step: int = 0

    @classmethod
    def zeros(cls, adapter: Adapter) -> Moments:
        """Fresh state for ``adapter``."""
        zero = {k: (torch.zeros_like(a), torch.zeros_like(b)) for k, (a, b) in adapter.items()}
        return cls(zero, {k: (a.clone(), b.clone()) for k, (a, b) in zero.items()}, 0)

    def clone(self) -> Moments:
        """An independent copy."""
        copy = {k: (a.clone(), b.clone()) for k, (a, b) in self.first.items()}
        second = {k: (a.clone(), b.clone()) for k, (a, b) in self.second.items()}
        return Moments(copy, second, self.step)


def padded(docs: Sequence[np.ndarray], pad_id: int, device: torch.device) -> torch.Tensor:
    """Right-padded ids ``(rows, width)``; labels are made from ``IGNORE`` past each end."""
    width = max(len(d) for d in docs)
    ids = np.full((len(docs), width), pad_id, dtype=np.int64)
    labels = np.full((len(docs), width), IGNORE, dtype=np.int64)
    for i, d in enumerate(docs):
        ids[i, : len(d)] = d
        labels[i, : len(d)] = d
    return torch.from_numpy(np.stack([ids, labels])).to(device)


def _stack(items: list[Adapter], grad: bool) -> Adapter:
    return {
        k: (
            torch.stack([m[k][0] for m in items]).requires_grad_(grad),
            torch.stack([m[k][1] for m in items]).requires_grad_(grad),
        )
        for k in sorted(items[0])
    }


def _leaves(adapter: Adapter) -> list[torch.Tensor]:
    return [t for pair in adapter.values() for t in pair]


def _clip(leaves: list[torch.Tensor], max_norm: float) -> None:
    norms = torch.stack([p.grad.pow(2).flatten(1).sum(1) for p in leaves]).sum(0).sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for p in leaves:
        p.grad.mul_(scale.view(-1, *([1] * (p.dim() - 1))))


@torch.no_grad()
def _adamw(
    leaves: list[torch.Tensor],
    first: list[torch.Tensor],
    second: list[torch.Tensor],
    steps: torch.Tensor,
    settings: TrainSettings,
) -> None:
    """One AdamW step (torch's formula) with a step count per agent (the leading axis)."""
    b1, b2 = BETAS
    lr = settings.learning_rate
    correct1 = 1 - b1**steps
    correct2 = (1 - b2**steps).sqrt()
    for p, m, v in zip(leaves, first, second, strict=True):
        view = (-1, *([1] * (p.dim() - 1)))
        p.mul_(1 - lr * settings.weight_decay)
        m.lerp_(p.grad, 1 - b1)
        v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
        denom = (v.sqrt() / correct2.view(view)).add_(EPS)
        p.addcdiv_(m, denom * (correct1.view(view) / lr), value=-1.0)


def agent_loss(logits: torch.Tensor, labels: torch.Tensor, agents: int) -> torch.Tensor:
    """Sum over agents of each one's mean next-token loss (rows agent-major)."""
    token = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        labels[:, 1:].reshape(-1),
        ignore_index=IGNORE,
        reduction="none",
    ).view(agents, -1)
    counts = (labels[:, 1:] != IGNORE).reshape(agents, -1).sum(1).clamp(min=1)
    return (token.sum(1) / counts).sum()


def train_adapters(
    model: torch.nn.Module,
    router: Router,
    adapters: list[Adapter],
    moments: list[Moments],
    data: list[list[np.ndarray]],
    seeds: list[int],
    settings: TrainSettings,
    pad_id: int,
) -> tuple[list[Adapter], list[Moments]]:
    """Train ``K`` adapters on the frozen ``model``, each on its own documents, together.

    Every agent must get the same ``settings.plan(len(docs))`` (callers group by it).

    Args:
        model: the shared base, its targeted layers wrapped (:func:`lora_layers.wrap`).
        router: the base's router.
        adapters: per agent, its adapter (not modified).
        moments: per agent, its AdamW state (not modified).
        data: per agent, its documents (id arrays, each within the context).
        seeds: per agent, the seed of its batch order.
        settings: optimisation settings (dropout is not used: the base runs in eval mode).
        pad_id: id written past each document's end (never a label).

    Returns:
        The trained adapters and their AdamW states.
    """
    plans = {settings.plan(len(docs)) for docs in data}
    if len(plans) != 1:
        raise ValueError(f"agents in one pass need the same steps and batch, got {plans}")
    steps, batch = plans.pop()
    schedules = [batch_schedule(len(d), steps, batch, s) for d, s in zip(data, seeds, strict=True)]
    device = next(iter(adapters[0].values()))[0].device
    weights = _stack(adapters, grad=True)
    first = _leaves(_stack([m.first for m in moments], grad=False))
    second = _leaves(_stack([m.second for m in moments], grad=False))
    counts = torch.tensor([m.step for m in moments], dtype=torch.float32, device=device)
    leaves = _leaves(weights)
    model.eval()
    with routed(router, weights):
        for step in range(steps):
            docs = [d[i] for d, s in zip(data, schedules, strict=True) for i in s[step]]
            ids, labels = padded(docs, pad_id, device)
            with autocast(settings.precision, device):
                logits = model(input_ids=ids).logits
            loss = agent_loss(logits, labels, len(adapters))
            for p in leaves:
                p.grad = None
            loss.backward()
            if settings.grad_clip > 0:
                _clip(leaves, settings.grad_clip)
            counts += 1
            _adamw(leaves, first, second, counts, settings)
    out_adapters, out_moments = [], []
    names = list(weights)
    for i, agent in enumerate(moments):
        # clones: an agent's tensors must not keep the whole stack alive
        own = {
            k: (weights[k][0][i].detach().clone(), weights[k][1][i].detach().clone()) for k in names
        }
        out_adapters.append(own)
        m1 = {
            k: (first[2 * j][i].clone(), first[2 * j + 1][i].clone()) for j, k in enumerate(names)
        }
        m2 = {
            k: (second[2 * j][i].clone(), second[2 * j + 1][i].clone()) for j, k in enumerate(names)
        }
        out_moments.append(Moments(m1, m2, agent.step + steps))
    return out_adapters, out_moments
