"""One shared tokenizer per run: byte-level BPE trained with Hugging Face ``tokenizers``.

Byte-level BPE can spell any string, so agents can produce word forms that the real
corpus never had (neologisms) and the tokenizer still encodes them losslessly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from society.lm.ascii_encoder import AsciiEncoder, qualifies
from society.lm.spell import spell
from society.lm.utf8 import Utf8Table, clean_decoded, token_bytes

EOS = "<|endoftext|>"
CACHE_SIZE = 200_000


class SharedTokenizer:
    """A thin wrapper over ``tokenizers.Tokenizer`` with the calls the society needs.

    Args:
        tokenizer: a trained ``tokenizers.Tokenizer`` that has the ``<|endoftext|>`` token.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        eos = tokenizer.token_to_id(EOS)
        if eos is None:
            raise ValueError(f"tokenizer has no {EOS} token")
        self.eos_id: int = eos
        self._cache: dict[str, np.ndarray] = {}
        self._pieces: list[bytes | None] | None = None
        self._bytes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._utf8: Utf8Table | None = None
        self._ascii = AsciiEncoder(tokenizer) if qualifies(tokenizer) else None

    @classmethod
    def train(
        cls, texts: Iterable[str], vocab_size: int = 2000, min_frequency: int = 2
    ) -> SharedTokenizer:
        """Train a byte-level BPE tokenizer on ``texts`` (deterministic for the same input).

        Args:
            texts: training texts.
            vocab_size: target vocabulary size, including the 256 byte symbols.
            min_frequency: minimum pair frequency for a merge.

        Returns:
            The trained tokenizer.
        """
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=[EOS],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(list(texts), trainer=trainer)
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        """Number of token ids (including the end-of-text token)."""
        return self.tokenizer.get_vocab_size()

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Encode texts into read-only int32 id arrays (no special tokens added).

        Encodings are memoised per text: in a society the same utterance is heard by
        several agents and the held-out texts are scored by every agent every round.
        """
        cache = self._cache
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            if len(cache) + len(missing) > CACHE_SIZE:
                cache.clear()
                missing = list(dict.fromkeys(texts))
            if self._ascii is not None:  # ASCII texts: the same ids without the library's regex
                rest = []
                for text, ids in zip(missing, self._ascii.encode_batch(missing), strict=True):
                    if ids is None:
                        rest.append(text)
                    else:
                        ids.flags.writeable = False
                        cache[text] = ids
                missing = rest
            encodings = self.tokenizer.encode_batch(missing, add_special_tokens=False)
            for text, encoding in zip(missing, encodings, strict=True):
                ids = np.asarray(encoding.ids, dtype=np.int32)
                ids.flags.writeable = False
                cache[text] = ids
        return [cache[t] for t in texts]

    @property
    def pieces(self) -> list[bytes | None]:
        """Bytes of each token id (None for special tokens such as end-of-text)."""
        if self._pieces is None:
            special = self.tokenizer.get_added_tokens_decoder()
            self._pieces = token_bytes(self.tokenizer.get_vocab(), self.vocab_size, special)
        return self._pieces

    @property
    def utf8(self) -> Utf8Table:
        """The UTF-8 automaton over this vocabulary (samplers use it to stay valid)."""
        if self._utf8 is None:
            self._utf8 = Utf8Table(self.pieces, end_ids=[self.eos_id])
        return self._utf8

    def decode_batch(self, ids: Sequence[Sequence[int]]) -> list[str]:
        """Decode id sequences back into text (special tokens dropped, edges stripped).

        Byte runs that are not well-formed UTF-8 (a token sequence cut mid-character, a
        stray continuation byte) are dropped rather than written as U+FFFD (see
        :func:`society.lm.utf8.decode_clean`). Every sequence still gives one text, so counts
        of texts are unchanged; only the invalid bytes themselves disappear. A U+FFFD
        spelled by valid bytes (one that was in the training text) is kept.

        The tokens' bytes are gathered from one byte table and each text decoded by Python:
        the text ``tokenizers`` gives (tested); ids outside the byte alphabet go through
        ``tokenizers``.
        """
        arrays = [np.asarray(seq, dtype=np.int64).ravel() for seq in ids]
        flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
        lengths = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
        return self._decode_flat(flat, lengths, lambda: ids)

    def decode_rows(self, ids: np.ndarray, lengths: np.ndarray) -> list[str]:
        """:meth:`decode_batch` of ``ids[i, : lengths[i]]`` for every row ``i``.

        Args:
            ids: ``(texts, width)`` token ids, each row's text first.
            lengths: each row's number of tokens.
        """
        lengths = np.asarray(lengths, dtype=np.int64)
        flat = np.asarray(ids, dtype=np.int64)[np.arange(ids.shape[1]) < lengths[:, None]]

        def rows() -> list[np.ndarray]:
            return [row[:n] for row, n in zip(ids, lengths, strict=True)]

        return self._decode_flat(flat, lengths, rows)

    def _decode_flat(
        self, flat: np.ndarray, lengths: np.ndarray, ids: Callable[[], Sequence[Sequence[int]]]
    ) -> list[str]:
        """Texts of ``flat`` cut at ``lengths`` (``ids``: the same per text, for the library)."""
        table, offsets, spelled = self._byte_table()
        if len(flat) and (flat.min() < 0 or flat.max() >= len(spelled) or not spelled[flat].all()):
            return self._decode_with_library(ids())  # ids the byte table cannot spell
        data = spell(table, offsets, flat).tobytes()
        token_ends = np.concatenate([[0], np.cumsum(offsets[flat + 1] - offsets[flat])])
        bounds = [0, *token_ends[np.cumsum(lengths)].tolist()]
        return [
            data[a:b].decode("utf-8", errors="ignore").strip()
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]

    def _decode_with_library(self, ids: Sequence[Sequence[int]]) -> list[str]:
        """:meth:`decode_batch` by ``tokenizers`` (the reference the byte table is tested on)."""
        lists = [[int(i) for i in seq] for seq in ids]
        texts = self.tokenizer.decode_batch(lists, skip_special_tokens=True)
        return [text.strip() for text in clean_decoded(self.pieces, lists, texts)]

    def _byte_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every token's bytes end to end, each id's start (``V + 1``), and which ids it spells.

        Byte tokens and special tokens (which spell nothing) are spelled by the table.
        """
        if self._bytes is None:
            special = set(self.tokenizer.get_added_tokens_decoder())
            pieces = self.pieces
            table = np.frombuffer(b"".join(p or b"" for p in pieces), dtype=np.uint8)
            sizes = np.fromiter((len(p or b"") for p in pieces), dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(sizes)])
            spelled = np.array([p is not None or i in special for i, p in enumerate(pieces)])
            self._bytes = (table, offsets, spelled)
        return self._bytes

    def save(self, path: str | Path) -> None:
        """Write ``tokenizer.json``."""
        self.tokenizer.save(str(path))

    def to_str(self) -> str:
        """Serialise to the JSON string ``tokenizers`` understands."""
        return self.tokenizer.to_str()

    @classmethod
    def load(cls, path: str | Path) -> SharedTokenizer:
        """Read a tokenizer saved with :meth:`save`."""
        return cls(Tokenizer.from_file(str(path)))

    def as_transformers(self):  # noqa: ANN201 - optional heavy import
        """Return a ``transformers.PreTrainedTokenizerFast`` view (for neural backends)."""
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast(
            tokenizer_object=self.tokenizer,
            eos_token=EOS,
            bos_token=EOS,
            unk_token=EOS,
            pad_token=EOS,
        )
