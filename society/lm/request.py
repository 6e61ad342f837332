"""What an agent asks its language model to say: one frozen request, its defaults in one place.

Every backend's ``sample(request)`` takes a :class:`SpeechRequest`, and so does
:func:`society.lm.base.sample_many`. The n-gram backend honours ``temperature`` and
``top_p`` and refuses the transformer-only keys (``top_k``, ``min_p``,
``repetition_penalty``) when they are not neutral, rather than ignoring them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass

import numpy as np

NEURAL_ONLY = ("top_k", "min_p", "repetition_penalty")
"""Request fields only the transformer backends use."""


@dataclass(frozen=True)
class SpeechRequest:
    """``n`` texts to generate, and how.

    Attributes:
        n: number of texts.
        rng: the request's own random stream (the only source of randomness; a backend
            may draw from it once to seed its own generator).
        max_tokens: generated tokens per text at most (a model's context may cap it).
        temperature: softmax temperature (> 0).
        top_p: nucleus mass kept (1 keeps the whole vocabulary).
        prompts: a starting text for each of the ``n`` texts, or None (free speech); kept
            as a tuple. Texts are continuations only, without their prompt.
        top_k: keep the k most probable tokens (0: all); transformer backends only.
        min_p: keep tokens with at least ``min_p`` times the top probability (0: all);
            transformer backends only.
        repetition_penalty: CTRL penalty on tokens already in the sequence (1: none);
            transformer backends only.

    Raises:
        ValueError: a value is out of range, or ``prompts`` are not ``n``.
    """

    n: int
    _: KW_ONLY
    rng: np.random.Generator
    max_tokens: int = 40
    temperature: float = 1.0
    top_p: float = 1.0
    prompts: Sequence[str] | None = None
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.prompts is not None:
            object.__setattr__(self, "prompts", tuple(self.prompts))
            if len(self.prompts) != self.n:
                raise ValueError(f"got {len(self.prompts)} prompts for {self.n} texts")
        if self.n < 0 or self.max_tokens < 0:
            raise ValueError(f"n and max_tokens must be >= 0, got {self.n}, {self.max_tokens}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0 or not 0 <= self.min_p < 1 or not self.repetition_penalty > 0:
            raise ValueError("top_k >= 0, 0 <= min_p < 1 and repetition_penalty > 0 required")

    def neural_only(self) -> dict[str, float]:
        """The transformer-only fields that differ from their defaults."""
        fields = type(self).__dataclass_fields__
        return {k: getattr(self, k) for k in NEURAL_ONLY if getattr(self, k) != fields[k].default}

    def sampling_key(self) -> tuple:
        """Everything but ``rng`` and ``prompts``: requests with equal keys sample alike."""
        return (
            self.n,
            self.max_tokens,
            self.temperature,
            self.top_p,
            self.top_k,
            self.min_p,
            self.repetition_penalty,
        )
