r"""Byte-level BPE encoding of ASCII texts without the library's pre-tokenizer.

``tokenizers`` spends most of an encoding in its byte-level pre-tokenizer (the GPT-2
regex, about 40 µs for a 90-character text here). For ASCII text that regex has an exact
equivalent in Python's ``re`` (letters ``[A-Za-z]``, digits ``[0-9]``, whitespace
``[\t\n\v\f\r ]``: Oniguruma's Unicode ``\s`` does not include ``\x1c``-``\x1f`` as
Python's does), and BPE encodes each pre-token on its own, so a text's ids are its
pre-tokens' ids end to end. Pre-tokens repeat (a society's texts share their words), so
each distinct one goes through the library's BPE model once. A batch of texts is cut by
that regex compiled (``ascii_pieces``, tested against ``SPLIT``) and its pieces looked up
in a table of their ids (:class:`PieceTable`): about 8 µs a text instead of 22.

Only tokenizers built like ``SharedTokenizer.train`` (no normalizer, ``ByteLevel`` with a
prefix space and the regex, plain BPE, no added token but the special ones) qualify, and
only ASCII texts without an added token's text take this path; everything else goes
through ``tokenizers``. ``tests/test_ascii_encoder.py`` compares the two on corpora and on
random ASCII strings.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from society.lm.ascii_pieces import add_missing, byte_classes, gather, look_up, rehash, split_pieces

#: The GPT-2 split (``pre_tokenizers.ByteLevel``) restricted to ASCII, alternative for
#: alternative: ``'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+``.
_WS = r"\t\n\x0b\x0c\r "
SPLIT = re.compile(
    rf"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^{_WS}A-Za-z0-9]+"
    rf"|[{_WS}]+(?![^{_WS}])|[{_WS}]+"
)
#: At most this many distinct pre-tokens are remembered (then the memo starts again).
MEMO_SIZE = 500_000
#: ``ascii_pieces`` byte classes of ``SPLIT``.
CLASSES = byte_classes()


def _byte_chars() -> dict[int, str]:
    """GPT-2's byte -> printable character map (``pre_tokenizers.ByteLevel.alphabet``)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


#: ASCII character -> its byte-level character (``str.translate`` table).
ASCII_TO_BYTE_LEVEL = {b: c for b, c in _byte_chars().items() if b < 128}


def qualifies(tokenizer: Tokenizer) -> bool:
    """Whether ``tokenizer`` encodes ASCII exactly as :class:`AsciiEncoder` does."""
    config = json.loads(tokenizer.to_str())
    model = config.get("model") or {}
    pre = config.get("pre_tokenizer") or {}
    return (
        config.get("normalizer") is None
        and pre.get("type") == "ByteLevel"
        and pre.get("add_prefix_space") is True
        and pre.get("use_regex", True) is True
        and model.get("type") == "BPE"
        and model.get("dropout") is None
        and not model.get("continuing_subword_prefix")
        and not model.get("end_of_word_suffix")
        and not model.get("byte_fallback")
        and all(token.get("special") for token in config.get("added_tokens") or [])
    )


class AsciiEncoder:
    """Encodes ASCII texts by ``SPLIT`` and a memo of each pre-token's BPE ids.

    Args:
        tokenizer: a tokenizer that :func:`qualifies`.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.model = tokenizer.model
        self.added = [t.content for t in tokenizer.get_added_tokens_decoder().values()]
        self.table = PieceTable(self.model)

    def handles(self, text: str) -> bool:
        """Whether ``text`` takes this path (ASCII, not empty, no added token's text)."""
        return bool(text) and text.isascii() and not any(a in text for a in self.added)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        """Each text's ids as int32, or None for a text this path does not take.

        The texts taken are cut and looked up together (:class:`PieceTable`); their arrays
        are read-only views of one array.
        """
        texts = list(texts)
        joined = "".join(texts)
        if any(a in joined for a in self.added):  # rare: check each text
            keep = [self.handles(t) for t in texts]
        elif joined.isascii() and all(texts):  # the usual batch: every text qualifies
            keep = None
        else:
            keep = [bool(t) and t.isascii() for t in texts]
        taken = texts if keep is None else [t for t, k in zip(texts, keep, strict=True) if k]
        if not taken:
            return [None] * len(texts)
        prefixed = [t if t[0] == " " else " " + t for t in taken]  # add_prefix_space
        bounds = np.zeros(len(prefixed) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, prefixed), np.int64, len(prefixed)), out=bounds[1:])
        buf = np.frombuffer("".join(prefixed).encode("ascii"), dtype=np.uint8)
        flat, at = self.table.encode(buf, bounds)
        flat.flags.writeable = False
        ids = [flat[a:b] for a, b in zip(at[:-1].tolist(), at[1:].tolist(), strict=True)]
        if keep is None:
            return ids
        found = iter(ids)
        return [next(found) if k else None for k in keep]


class PieceTable:
    """Pre-token bytes -> BPE ids in flat arrays that the compiled kernels search and fill.

    At most :data:`MEMO_SIZE` pieces are kept (then the table starts again).

    Args:
        model: the tokenizer's BPE model (encodes the pieces the table lacks).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.clear()

    def clear(self) -> None:
        """Forget every piece."""
        self.slots = np.full(1 << 12, -1, dtype=np.int64)
        self.pool = np.empty(1 << 14, dtype=np.uint8)
        self.offsets = np.zeros(1 << 11, dtype=np.int64)  # piece p: pool[offsets[p]:offsets[p+1]]
        self.ids = np.empty(1 << 12, dtype=np.int32)
        self.id_offsets = np.zeros(1 << 11, dtype=np.int64)
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def encode(self, buf: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the texts ``buf[bounds[t]:bounds[t + 1]]`` end to end, and their bounds."""
        starts, firsts = split_pieces(buf, bounds, CLASSES)
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[firsts[1:] - 1] = bounds[1:]  # every text has a piece: it is not empty
        found = look_up(buf, starts, ends, self.slots, self.pool, self.offsets)
        missing = found < 0
        if missing.any():
            if self.count + int(missing.sum()) > MEMO_SIZE:
                self.clear()
                found[:] = -1
                missing[:] = True
            self._add(buf, starts, ends, found, int((ends - starts)[missing].sum()))
        return gather(found, firsts, self.id_offsets, self.ids)

    def _add(
        self, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, found: np.ndarray, size: int
    ) -> None:
        """Number the pieces ``found`` lacks, encoding each distinct new one with the model."""
        most = self.count + int((found < 0).sum())
        self._room(most, int(self.offsets[self.count]) + size)
        before = self.count
        self.count = add_missing(
            buf, starts, ends, found, self.slots, self.pool, self.offsets, self.count
        )
        lo, hi = int(self.offsets[before]), int(self.offsets[self.count])
        text = self.pool[lo:hi].tobytes().decode("ascii").translate(ASCII_TO_BYTE_LEVEL)
        bounds = (self.offsets[before : self.count + 1] - lo).tolist()
        pieces = [text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        tokenize = self.model.tokenize
        new = [[t.id for t in tokenize(piece)] for piece in pieces]
        sizes = np.fromiter(map(len, new), np.int64, len(new))
        start = int(self.id_offsets[before])
        stop = start + int(sizes.sum())
        if stop > len(self.ids):
            self.ids = np.resize(self.ids, max(stop, 2 * len(self.ids)))
        self.ids[start:stop] = np.fromiter(
            itertools.chain.from_iterable(new), np.int32, stop - start
        )
        self.id_offsets[before + 1 : self.count + 1] = start + np.cumsum(sizes)

    def _room(self, pieces: int, pool_bytes: int) -> None:
        """Grow the arrays to hold ``pieces`` pieces of ``pool_bytes`` bytes in all."""
        if pool_bytes > len(self.pool):
            self.pool = np.resize(self.pool, max(pool_bytes, 2 * len(self.pool)))
        if pieces + 1 > len(self.offsets):
            grown = max(pieces + 1, 2 * len(self.offsets))
            self.offsets = np.resize(self.offsets, grown)
            self.id_offsets = np.resize(self.id_offsets, grown)
        if 2 * pieces > len(self.slots):  # at most half full
            size = len(self.slots)
            while 2 * pieces > size:
                size *= 2
            self.slots = np.full(size, -1, dtype=np.int64)
            rehash(self.slots, self.pool, self.offsets, self.count)
