"""Language-model backends behind one protocol (``society.lm.base.LanguageModel``)."""

from __future__ import annotations

from society.config import LanguageModelConfig
from society.lm.base import LanguageModel, perplexity
from society.lm.tokenizer import SharedTokenizer

__all__ = ["LanguageModel", "build_language_model", "perplexity"]


def build_language_model(config: LanguageModelConfig, tokenizer: SharedTokenizer) -> LanguageModel:
    """Build an untrained model of the configured kind.

    Args:
        config: the scenario's ``[language_model]`` table.
        tokenizer: the run's shared tokenizer.

    Returns:
        A backend implementing :class:`LanguageModel`.
    """
    if config.kind == "ngram":
        from society.lm.ngram import NGramLM

        return NGramLM(
            tokenizer, order=config.order, discount=config.discount, memory=config.memory
        )
    if config.kind == "transformer":
        from society.lm.transformer import build_transformer

        return build_transformer(config, tokenizer)
    raise NotImplementedError(f"language_model.kind = {config.kind!r} is not available yet")
