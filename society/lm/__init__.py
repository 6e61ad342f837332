"""Language-model backends behind one protocol (``society.lm.base.LanguageModel``).

- ``request``: :class:`SpeechRequest`, what ``sample`` and ``sample_many`` are asked;
- ``base``: the protocol, ``sample_many`` and ``perplexity``;
- ``factory``: ``build_language_model``, from a ``[language_model]`` table to a backend;
- ``ngram``, ``transformer`` (GPT-2, stacked), ``hf`` (any ``transformers`` model, LoRA):
  the backends, with their building blocks (``gpt``, ``sampler``, ``train``, ``packing``,
  ``precision``, ``tokens``, ``tokenizer``, ``utf8``);
- ``ancestor_cache``: generation 0, trained once and kept on disk.
"""

from society.lm.base import LanguageModel, perplexity, sample_many
from society.lm.request import SpeechRequest

__all__ = ["LanguageModel", "SpeechRequest", "perplexity", "sample_many"]
