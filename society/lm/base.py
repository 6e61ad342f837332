"""The protocol every language-model backend follows, so agents never know which they hold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from society.lm.request import SpeechRequest


@runtime_checkable
class LanguageModel(Protocol):
    """A trainable, sampleable, scoreable language model over text.

    Backends own their tokenization (they are built with the run's shared tokenizer or
    with a checkpoint's own), so the protocol speaks in plain strings.
    """

    def fit(self, texts: Sequence[str]) -> None:
        """Train from scratch on ``texts``."""

    def update(self, texts: Sequence[str]) -> None:
        """Continue training from the current state on ``texts``."""

    def sample(self, request: SpeechRequest) -> list[str]:
        """Generate ``request.n`` texts (continuations only, without the prompt)."""

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return per-text total log-likelihood (nats) and per-text scored token counts."""

    def state(self) -> dict[str, np.ndarray]:
        """Return the model's state as a flat dict of arrays (safetensors / npz friendly)."""

    def load(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state produced by :meth:`state`."""

    def clone(self) -> LanguageModel:
        """Return an independent deep copy."""


def perplexity(log_likelihood: np.ndarray, tokens: np.ndarray) -> float:
    """Corpus perplexity exp(-sum log p / sum tokens) from :meth:`LanguageModel.score` output."""
    total = float(np.sum(tokens))
    if total == 0:
        return float("nan")
    return float(np.exp(-float(np.sum(log_likelihood)) / total))


def sample_many(
    models: Sequence[LanguageModel], requests: Sequence[SpeechRequest]
) -> list[list[str]]:
    """Each model's ``sample(request)``, in order.

    A backend whose class has ``sample_together(models, requests)`` gets all its models at
    once (the transformer backend runs them in parallel); the result must be the same as
    sampling one by one, each request carrying its own ``rng``.
    """
    kinds = {type(model) for model in models}
    together = getattr(kinds.pop(), "sample_together", None) if len(kinds) == 1 else None
    if together is not None:
        return together(list(models), list(requests))
    return [model.sample(request) for model, request in zip(models, requests, strict=True)]


def update_many(models: Sequence[LanguageModel], texts: Sequence[Sequence[str]]) -> None:
    """Each model's ``update(texts[i])``, in order.

    A backend whose class has ``update_together(models, texts)`` gets all its models at
    once; the models must end exactly as if updated one by one.
    """
    if not models:
        return
    kinds = {type(model) for model in models}
    together = getattr(kinds.pop(), "update_together", None) if len(kinds) == 1 else None
    if together is not None:
        together(list(models), list(texts))
        return
    for model, data in zip(models, texts, strict=True):
        model.update(data)


def score_many(
    models: Sequence[LanguageModel], texts: Sequence[Sequence[str]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each model's ``score(texts[i])``, in order.

    A backend whose class has ``score_together(models, texts)`` gets all its models at
    once; the result must be the same as scoring one by one.
    """
    kinds = {type(model) for model in models}
    together = getattr(kinds.pop(), "score_together", None) if len(kinds) == 1 else None
    if together is not None:
        return together(list(models), [list(t) for t in texts])
    return [model.score(list(data)) for model, data in zip(models, texts, strict=True)]
