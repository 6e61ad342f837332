"""The ``[language_model]`` table: which language model each agent holds."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from society.config.base import Section


class LanguageModelConfig(Section):
    """Which language model each agent holds."""

    kind: Literal["ngram", "transformer"] = "ngram"
    order: int = Field(3, ge=1, le=6, description="n-gram order")
    discount: float = Field(0.75, gt=0, lt=1, description="Kneser-Ney absolute discount")
    memory: float = Field(
        0.0, ge=0, le=1, description="n-gram: share of previous counts kept when learning"
    )
    # transformer: a GPT-2 built from these keys, or the local checkpoint at `path`
    layers: int = Field(4, ge=1, le=64, description="transformer blocks")
    width: int = Field(128, ge=8, le=8192, description="embedding width (a multiple of heads)")
    heads: int = Field(4, ge=1, le=128, description="attention heads")
    context: int = Field(64, ge=8, le=8192, description="positions per text window")
    dropout: float = Field(0.0, ge=0, lt=1)
    learning_rate: float = Field(1e-3, gt=0, le=1, description="AdamW learning rate")
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW decoupled weight decay")
    batch_size: int = Field(16, ge=1, description="packed rows of `context` tokens per step")
    epochs: float = Field(2.0, gt=0, le=1000, description="passes over the data per round")
    steps: int | None = Field(None, ge=1, description="optimizer steps per round (not epochs)")
    ancestor_epochs: float = Field(4.0, gt=0, le=1000, description="generation 0 passes")
    grad_clip: float = Field(1.0, ge=0, description="per-agent gradient norm clip (0: none)")
    path: str | None = Field(None, description="local checkpoint dir (uses its own tokenizer)")
    lora: bool = Field(False, description="train LoRA adapters (peft) instead of all weights")
    lora_rank: int = Field(8, ge=1, le=1024)
    lora_alpha: float = Field(16.0, gt=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0, le=1024, description="torch CPU threads (0: torch default)")
    agents_per_batch: int = Field(
        0, ge=0, description="agents trained in one stacked pass (0: 1 on CPU, 16 on CUDA)"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="training matmuls: bf16 mixed precision where native (auto), fp32"
    )
    activation: Literal["gelu", "gelu_new"] = Field(
        "gelu", description="GELU exact, or GPT-2's tanh approximation (slower on CPU)"
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> LanguageModelConfig:
        if self.width % self.heads:
            raise ValueError(f"width: {self.width} is not a multiple of heads ({self.heads})")
        checkpoint = Path(self.path) / "config.json" if self.path else None
        if self.kind == "transformer" and checkpoint and not checkpoint.is_file():
            raise ValueError(f"path: {self.path} is not a checkpoint directory (no config.json)")
        return self
