"""The ``[language_model]`` table: which language model each agent holds.

A union keyed on ``kind`` (``"ngram"`` when the table has none): each kind has its own
keys, and a key of the other kind is an unknown key, like any typo.

``[language_model.communities.<label>]`` gives a community a language-model table of its
own (a mixed population: another kind, checkpoint or size). Each such table is complete
in itself (its keys default as in ``[language_model]``, nothing is inherited) and has no
``communities`` of its own; communities not listed use ``[language_model]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from society.config.base import Section, check_integer_labels


class _Table(Section):
    """What every kind has: the per-community tables of a mixed population."""

    communities: dict[int, LanguageModelConfig] = Field(
        {},
        description="community label -> its own [language_model] table (a mixed population)",
    )

    @field_validator("communities", mode="before")
    @classmethod
    def _labels_are_integers(cls, value: Any) -> Any:
        return check_integer_labels(value)

    @field_validator("communities", mode="after")
    @classmethod
    def _one_level(cls, value: dict[int, Any]) -> dict[int, Any]:
        for label, table in value.items():
            if table.communities:
                raise ValueError(f"{label}.communities: a community's table has no communities")
        return value


class NGramConfig(_Table):
    """Interpolated Kneser-Ney n-grams over the run's shared tokenizer."""

    kind: Literal["ngram"] = "ngram"
    order: int = Field(3, ge=1, le=6, description="n-gram order")
    discount: float = Field(0.75, gt=0, lt=1, description="Kneser-Ney absolute discount")
    memory: float = Field(
        0.0, ge=0, le=1, description="n-gram: share of previous counts kept when learning"
    )


class TransformerConfig(_Table):
    """A GPT-2 built from these keys, or the local checkpoint at ``path``."""

    kind: Literal["transformer"] = "transformer"
    # shape (ignored when `path` is a checkpoint, which has its own)
    layers: int = Field(4, ge=1, le=64, description="transformer blocks")
    width: int = Field(128, ge=8, le=8192, description="embedding width (a multiple of heads)")
    heads: int = Field(4, ge=1, le=128, description="attention heads")
    context: int = Field(64, ge=8, le=8192, description="positions per text window")
    dropout: float = Field(0.0, ge=0, lt=1)
    # training
    learning_rate: float = Field(1e-3, gt=0, le=1, description="AdamW learning rate")
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW decoupled weight decay")
    batch_size: int = Field(16, ge=1, description="packed rows of `context` tokens per step")
    epochs: float = Field(2.0, gt=0, le=1000, description="passes over the data per round")
    steps: int | None = Field(None, ge=1, description="optimizer steps per round (not epochs)")
    ancestor_epochs: float = Field(4.0, gt=0, le=1000, description="generation 0 passes")
    grad_clip: float = Field(1.0, ge=0, description="per-agent gradient norm clip (0: none)")
    # a checkpoint, and LoRA adapters instead of all weights
    path: str | None = Field(None, description="local checkpoint dir (uses its own tokenizer)")
    lora: bool = Field(False, description="train LoRA adapters (peft) instead of all weights")
    lora_rank: int = Field(8, ge=1, le=1024)
    lora_alpha: float = Field(16.0, gt=0)
    lora_targets: list[str] = Field(
        [], description="LoRA: module-name suffixes to adapt (empty: every linear but the head)"
    )
    # hardware
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0, le=1024, description="torch CPU threads (0: torch default)")
    agents_per_batch: int = Field(
        0,
        ge=0,
        description="agents trained in one stacked pass (0: 1 on CPU, 16 on CUDA; LoRA: all "
        "on CPU, what free memory holds on CUDA)",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="training matmuls: bf16 mixed precision where native (auto), fp32"
    )
    activation: Literal["gelu", "gelu_new"] = Field(
        "gelu", description="GELU exact, or GPT-2's tanh approximation (slower on CPU)"
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TransformerConfig:
        # whether `path` holds a checkpoint is checked by preflight (run.preflight), so a
        # file naming weights this machine lacks still validates
        if self.width % self.heads:
            raise ValueError(f"width: {self.width} is not a multiple of heads ({self.heads})")
        return self


KINDS: dict[str, type[NGramConfig | TransformerConfig]] = {
    "ngram": NGramConfig,
    "transformer": TransformerConfig,
}
"""Each ``kind`` and its table; a table without ``kind`` is ``"ngram"``."""


def _by_kind(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate a table as the model its ``kind`` names.

    Errors keep the table's own field names (``language_model.layers: unknown key``), with
    no union branch in their location.
    """
    if isinstance(value, NGramConfig | TransformerConfig):
        return value
    if not isinstance(value, dict):
        return NGramConfig.model_validate(value)
    kind = value.get("kind", "ngram")
    if kind not in KINDS:
        expected = " or ".join(repr(k) for k in KINDS)
        error = InitErrorDetails(
            type="literal_error", loc=("kind",), input=kind, ctx={"expected": expected}
        )
        raise ValidationError.from_exception_data("language_model", [error])
    return KINDS[kind].model_validate(value)


LanguageModelConfig = Annotated[NGramConfig | TransformerConfig, WrapValidator(_by_kind)]
"""The ``[language_model]`` table: :class:`NGramConfig` or :class:`TransformerConfig`."""

_Table.model_rebuild()
NGramConfig.model_rebuild()
TransformerConfig.model_rebuild()


def table_for(config: NGramConfig | TransformerConfig, community: int | None):  # noqa: ANN201
    """The table a community's agents are built from (its own, else ``config`` itself)."""
    return config.communities.get(community, config) if community is not None else config


def model_label(config: NGramConfig | TransformerConfig) -> str:
    """A short name of a table's model for the agents table's ``model`` column.

    ``ngram3`` (kind and order); a checkpoint's folder name; ``gpt2-4x128`` (blocks x
    width) for a GPT-2 built from the keys; ``+lora`` when adapters are trained.
    """
    if isinstance(config, NGramConfig):
        return f"ngram{config.order}"
    name = Path(config.path).name if config.path else f"gpt2-{config.layers}x{config.width}"
    return name + ("+lora" if config.lora else "")


def own_keys(table: dict[str, Any]) -> dict[str, Any]:
    """A resolved ``[language_model]`` table without the keys its kind does not have.

    For run directories written before the table became a union: their ``config.toml``
    lists every key of both kinds, and those of the other kind never had an effect.
    """
    model = KINDS.get(table.get("kind", "ngram"))
    return table if model is None else {k: v for k, v in table.items() if k in model.model_fields}


def explicit_keys(config: NGramConfig | TransformerConfig) -> dict[str, Any]:
    """``kind`` and the keys that differ from their defaults, as TOML-ready values.

    Switching ``kind`` from here keeps only what was chosen: defaults of the old kind are
    not carried over as foreign keys.
    """
    out = {"kind": config.kind, **config.model_dump(mode="json", exclude_defaults=True)}
    if config.communities:  # each community's table names its own kind too
        out["communities"] = {str(k): explicit_keys(v) for k, v in config.communities.items()}
    return out
