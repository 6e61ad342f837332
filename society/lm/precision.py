"""Which floating-point precision transformer agents train in.

``bf16`` is mixed precision: weights, optimizer state, loss, softmax and scoring stay
float32, and matrix products run in bfloat16 under ``torch.autocast``. It pays where the
hardware multiplies bfloat16 natively (CUDA devices with bf16, x86 CPUs with AVX512-BF16
or AMX); elsewhere it is emulated and slower, so ``auto`` picks float32 there. Sampling
and scoring are always float32, so measures stay comparable across precisions.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""``/proc/cpuinfo`` flags of x86 CPUs that multiply bfloat16 in hardware."""


@cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (Linux x86 flags; else False)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    return any(flag in flags.split() for flag in NATIVE_BF16_FLAGS)


def resolve_precision(name: str, device: torch.device) -> str:
    """``fp32`` or ``bf16`` for a configured precision on ``device``.

    Raises:
        ValueError: ``name`` is unknown, or ``bf16`` on a CUDA device without bfloat16.
    """
    if name not in PRECISIONS:
        raise ValueError(f"precision {name!r} is not one of {list(PRECISIONS)}")
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
        if name == "bf16" and not native:
            raise ValueError("precision = 'bf16' but this CUDA device has no bfloat16")
    else:
        native = cpu_has_native_bf16()
    if name == "auto":
        return "bf16" if native else "fp32"
    return name


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """The autocast context of a resolved precision (disabled for ``fp32``)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
