"""Tokenizers for neural backends: the run's shared one, or a local checkpoint's own.

Both expose what the backends need: ``encode_batch``, ``decode_batch``, ``eos_id``,
``vocab_size`` and ``as_transformers`` (a ``PreTrainedTokenizerFast`` to save beside an
exported model).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from society.lm.utf8 import clean_decoded, token_bytes


class Tokens(Protocol):
    """The tokenizer interface the neural backends use."""

    eos_id: int

    @property
    def vocab_size(self) -> int:
        """Number of token ids."""

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Encode texts into id arrays (no special tokens added)."""

    def decode_batch(self, ids: Sequence[Sequence[int]]) -> list[str]:
        """Decode id sequences into text (special tokens dropped)."""

    def as_transformers(self):  # noqa: ANN201
        """A ``transformers`` tokenizer with the same vocabulary."""


class CheckpointTokens:
    """The tokenizer saved with a local checkpoint (``AutoTokenizer``), offline only.

    Args:
        path: the checkpoint directory.

    Raises:
        ValueError: the tokenizer has no end-of-text (eos) token.
    """

    def __init__(self, path: str | Path) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        eos = self.tokenizer.eos_token_id
        if eos is None:
            raise ValueError(f"{path}: the checkpoint's tokenizer has no eos token")
        self.eos_id = int(eos)

    @property
    def vocab_size(self) -> int:
        """Number of token ids, added tokens included."""
        return len(self.tokenizer)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Encode texts into int64 id arrays (no special tokens added)."""
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [np.asarray(ids, dtype=np.int64) for ids in encoded]

    def decode_batch(self, ids: Sequence[Sequence[int]]) -> list[str]:
        """Decode id sequences (special tokens dropped, edges stripped).

        With a byte-level tokenizer (GPT-2's, or a run's exported one), invalid byte runs
        are dropped instead of written as U+FFFD, as in
        :meth:`society.lm.tokenizer.SharedTokenizer.decode_batch`.
        """
        lists = [[int(i) for i in seq] for seq in ids]
        texts = self.tokenizer.batch_decode(lists, skip_special_tokens=True)
        if self._pieces is not None:
            texts = clean_decoded(self._pieces, lists, texts)
        return [t.strip() for t in texts]

    @cached_property
    def _pieces(self) -> list[bytes | None] | None:
        """Bytes of each token id, or None unless the tokenizer is byte-level."""
        from tokenizers import decoders

        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None or not isinstance(backend.decoder, decoders.ByteLevel):
            return None
        special = self.tokenizer.all_special_ids
        return token_bytes(self.tokenizer.get_vocab(), len(self.tokenizer), special)

    def as_transformers(self):  # noqa: ANN201
        """The checkpoint's own ``transformers`` tokenizer."""
        return self.tokenizer
