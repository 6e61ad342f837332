r"""Byte-level BPE encoding of ASCII texts without the library's pre-tokenizer.

``tokenizers`` spends most of an encoding in its byte-level pre-tokenizer (the GPT-2
regex, about 40 µs for a 90-character text here). For ASCII text that regex has an exact
equivalent in Python's ``re`` (letters ``[A-Za-z]``, digits ``[0-9]``, whitespace
``[\t\n\v\f\r ]``: Oniguruma's Unicode ``\s`` does not include ``\x1c``-``\x1f`` as
Python's does), and BPE encodes each pre-token on its own, so a text's ids are its
pre-tokens' ids end to end. Pre-tokens repeat (a society's texts share their words), so
each distinct one goes through the library's BPE model once.

Only tokenizers built like ``SharedTokenizer.train`` (no normalizer, ``ByteLevel`` with a
prefix space and the regex, plain BPE, no added token but the special ones) qualify, and
only ASCII texts without an added token's text take this path; everything else goes
through ``tokenizers``. ``tests/test_ascii_encoder.py`` compares the two on corpora and on
random ASCII strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer

#: The GPT-2 split (``pre_tokenizers.ByteLevel``) restricted to ASCII, alternative for
#: alternative: ``'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+``.
_WS = r"\t\n\x0b\x0c\r "
SPLIT = re.compile(
    rf"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^{_WS}A-Za-z0-9]+"
    rf"|[{_WS}]+(?![^{_WS}])|[{_WS}]+"
)
#: At most this many distinct pre-tokens are remembered (then the memo starts again).
MEMO_SIZE = 500_000


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
        self.memo: dict[str, list[int]] = {}

    def handles(self, text: str) -> bool:
        """Whether ``text`` takes this path (ASCII, not empty, no added token's text)."""
        return bool(text) and text.isascii() and not any(a in text for a in self.added)

    def encode(self, text: str) -> list[int]:
        """The ids ``tokenizers`` gives ``text`` (which must be :meth:`handles`)."""
        memo = self.memo
        if len(memo) > MEMO_SIZE:
            memo.clear()
        if text[0] != " ":
            text = " " + text  # add_prefix_space
        ids: list[int] = []
        for piece in SPLIT.findall(text):
            found = memo.get(piece)
            if found is None:
                mapped = piece.translate(ASCII_TO_BYTE_LEVEL)
                found = memo[piece] = [t.id for t in self.model.tokenize(mapped)]
            ids += found
        return ids

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        """Each text's ids as int32, or None for a text this path does not take."""
        return [
            np.asarray(self.encode(t), dtype=np.int32) if self.handles(t) else None for t in texts
        ]
