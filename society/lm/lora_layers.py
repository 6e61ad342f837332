"""Per-row LoRA on a frozen ``transformers`` model: the layers and where they go.

Every targeted linear layer of the shared base is wrapped in a :class:`LoRALinear` that
adds ``scale * (x @ A[k].T) @ B[k].T`` to the frozen output, where ``k`` is the agent
that owns the row. The rows of one pass are grouped by agent, ``per`` rows each, so the
per-agent products are two batched matrix products over ``(agents, per * positions)``
and no per-row copy of an adapter is made. Adapters use peft's orientation
(``lora_A.weight`` is ``(rank, in)``, ``lora_B.weight`` is ``(out, rank)``) for linear
and GPT-2 ``Conv1D`` layers alike, so an agent's adapter is a peft adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

Adapter = dict[str, tuple[torch.Tensor, torch.Tensor]]
"""Module name -> ``(A (rank, in), B (out, rank))`` of one agent (or stacked: a leading axis)."""


@dataclass
class Router:
    """The adapters of the pass being run, stacked per module (None: the bare base)."""

    weights: Adapter | None = None
    scale: float = 1.0


class LoRALinear(torch.nn.Module):
    """A frozen linear (or GPT-2 ``Conv1D``) layer plus each row's agent's low-rank update.

    Args:
        base: the frozen layer.
        name: its module name (the key of its adapter).
        router: the shared router holding the current pass's stacked adapters.
    """

    def __init__(self, base: torch.nn.Module, name: str, router: Router) -> None:
        super().__init__()
        self.base = base
        self.name = name
        self.router = router

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``base(x)`` plus ``scale * x A^T B^T`` with the adapter of each row's agent."""
        out = self.base(x)
        weights = self.router.weights
        if weights is None:
            return out
        a, b = weights[self.name]  # (K, r, in), (K, out, r)
        k = a.shape[0]
        rows = x.reshape(k, -1, x.shape[-1]).to(a.dtype)  # agent-major rows
        low = torch.bmm(rows, a.transpose(1, 2))
        delta = torch.bmm(low, b.transpose(1, 2)) * self.router.scale
        return out + delta.view(out.shape).to(out.dtype)


def in_out(module: torch.nn.Module) -> tuple[int, int] | None:
    """``(in, out)`` features of a linear or GPT-2 ``Conv1D`` layer, else None."""
    if isinstance(module, torch.nn.Linear):
        return module.in_features, module.out_features
    if type(module).__name__ == "Conv1D":  # transformers.pytorch_utils.Conv1D: weight (in, out)
        rows, cols = module.weight.shape
        return int(rows), int(cols)
    return None


def targets(model: torch.nn.Module, names: list[str]) -> dict[str, tuple[int, int]]:
    """The layers to adapt: ``names`` (module-name suffixes), or all linear layers but the head.

    Raises:
        ValueError: no layer matches.
    """
    head = model.get_output_embeddings()
    found = {}
    for name, module in model.named_modules():
        shape = in_out(module)
        if shape is None or module is head:
            continue
        if not names or any(name == n or name.endswith(f".{n}") for n in names):
            found[name] = shape
    if not found:
        raise ValueError(f"no linear layer matches lora_targets {names}")
    return found


def wrap(model: torch.nn.Module, names: dict[str, tuple[int, int]], router: Router) -> None:
    """Replace each named layer of ``model`` by a :class:`LoRALinear` around it (in place)."""
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), name, router))


@contextmanager
def routed(router: Router, weights: Adapter) -> Iterator[None]:
    """Run passes with ``weights`` stacked over agents (rows agent-major, equal per agent)."""
    router.weights = weights
    try:
        yield
    finally:
        router.weights = None


def peft_key(name: str, which: str) -> str:
    """Peft's state-dict name of a module's ``lora_A`` / ``lora_B`` weight."""
    return f"base_model.model.{name}.lora_{which}.weight"
