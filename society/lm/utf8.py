"""UTF-8 validity of byte-level BPE token sequences.

A byte-level BPE token is a run of bytes, not necessarily whole characters: ``é`` may be
two tokens, and a sampler can emit a lead byte with no continuation, or a continuation byte
with no lead. Decoding such a sequence the lossy way puts U+FFFD (``�``) into the text.

This module gives the two tools the society uses against that:

* :class:`Utf8Table` - the UTF-8 decoder as a finite automaton over *tokens*: from each
  state (how many continuation bytes are still owed, and which range the next one must lie
  in) a token leads to a new state or is rejected. Samplers keep one state per sequence
  and refuse tokens that would be rejected (:meth:`Utf8Table.allowed`), so generated
  byte sequences stay valid; end-of-text is only allowed on a character boundary.
* :func:`decode_clean` - decoding that drops invalid byte runs (and an incomplete final
  character) instead of replacing them, for token sequences no sampler constrained
  (e.g. cut by ``max_tokens`` mid-character, or mutated token by token).

The automaton is the one of the Unicode Standard, Table 3-7 (well-formed UTF-8: no
overlong forms, no surrogates, nothing above U+10FFFF), the same rules Python's strict
``bytes.decode("utf-8")`` applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

ACCEPT = 0
"""State on a character boundary (every sequence starts here)."""
N_STATES = 8
"""Valid automaton states: 0 boundary; 1-3 owe that many ``80-BF`` bytes; 4-7 owe a
restricted next byte (after ``E0``, ``ED``, ``F0``, ``F4``)."""
REJECT = N_STATES
"""Absorbing error state (also the table value of a rejected token)."""

_ANY = (0x80, 0xBF)
# State -> (allowed range of the next byte, state after it), for states that owe bytes.
_CONTINUE = {
    1: (_ANY, 0),
    2: (_ANY, 1),
    3: (_ANY, 2),
    4: ((0xA0, 0xBF), 1),  # after E0: no overlong 3-byte forms
    5: ((0x80, 0x9F), 1),  # after ED: no surrogates
    6: ((0x90, 0xBF), 2),  # after F0: no overlong 4-byte forms
    7: ((0x80, 0x8F), 2),  # after F4: nothing above U+10FFFF
}


def _lead_state(byte: int) -> int:
    """State after ``byte`` read on a character boundary."""
    if byte < 0x80:
        return ACCEPT
    if 0xC2 <= byte <= 0xDF:
        return 1
    if byte == 0xE0:
        return 4
    if byte == 0xED:
        return 5
    if 0xE1 <= byte <= 0xEF:
        return 2
    if byte == 0xF0:
        return 6
    if 0xF1 <= byte <= 0xF3:
        return 3
    if byte == 0xF4:
        return 7
    return REJECT


@lru_cache(maxsize=1)
def byte_table() -> np.ndarray:
    """``(N_STATES + 1, 257)`` next state per (state, byte); column 256 is "no byte"."""
    table = np.full((N_STATES + 1, 257), REJECT, dtype=np.int8)
    table[ACCEPT, :256] = [_lead_state(b) for b in range(256)]
    for state, ((low, high), after) in _CONTINUE.items():
        table[state, low : high + 1] = after
    table[:, 256] = np.arange(N_STATES + 1)
    table.flags.writeable = False
    return table


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """The byte-level alphabet: the printable character standing for each byte (GPT-2)."""
    printable = {*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)}
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + extra)] = byte
            extra += 1
    return chars


def token_bytes(
    vocab: dict[str, int], size: int, special: Iterable[int] = ()
) -> list[bytes | None]:
    """Bytes of each token id of a byte-level vocabulary.

    Args:
        vocab: token string -> id.
        size: number of ids.
        special: ids of special tokens (they spell no bytes: decoding skips them).

    Returns:
        Per id its bytes, or None for a special token or one outside the byte alphabet.
    """
    decoder = byte_decoder()
    skip = set(special)
    out: list[bytes | None] = [None] * size
    for piece, index in vocab.items():
        if index not in skip and all(c in decoder for c in piece):
            out[index] = bytes(decoder[c] for c in piece)
    return out


class Utf8Table:
    """The UTF-8 automaton over a vocabulary's tokens.

    Args:
        pieces: bytes of each token id (None: a special token, which adds no bytes).
        end_ids: ids that end a text (end-of-text): allowed only on a character boundary.
    """

    def __init__(self, pieces: Sequence[bytes | None], end_ids: Iterable[int] = ()) -> None:
        width = max((len(p) for p in pieces if p), default=0)
        padded = np.full((len(pieces), width), 256, dtype=np.int64)
        for index, piece in enumerate(pieces):
            if piece:
                padded[index, : len(piece)] = np.frombuffer(piece, dtype=np.uint8)
        bytes_next = byte_table()
        states = np.tile(np.arange(N_STATES, dtype=np.int64), (len(pieces), 1))
        for column in padded.T:
            states = bytes_next[states, column[:, None]]
        for index in end_ids:
            states[index] = REJECT
            states[index, ACCEPT] = ACCEPT
        self.next: np.ndarray = np.ascontiguousarray(states.T.astype(np.int8))
        """``(N_STATES, V)`` state after each token from each state (``REJECT``: refused)."""
        self.next.flags.writeable = False

    def advance(self, states: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """States after appending ``tokens`` (one per sequence); ``REJECT`` if invalid."""
        states = np.asarray(states, dtype=np.int64)
        out = np.full(len(states), REJECT, dtype=np.int8)
        live = states != REJECT
        out[live] = self.next[states[live], np.asarray(tokens)[live]]
        return out

    def allowed(self, states: np.ndarray) -> np.ndarray:
        """``(n, V)`` boolean mask of the tokens each sequence may take next."""
        return self.next[np.asarray(states, dtype=np.int64)] != REJECT


def decode_clean(pieces: Sequence[bytes | None], ids: Iterable[int]) -> str:
    """Decode token ids to text, dropping invalid byte runs instead of writing U+FFFD.

    Only bytes that cannot be part of any well-formed character are dropped (a stray
    continuation byte, a lead byte whose continuation is missing, an incomplete final
    character); a U+FFFD spelled by valid bytes (``EF BF BD``) is text and is kept.

    Args:
        pieces: bytes of each token id (None: a special token, skipped).
        ids: the token ids.

    Returns:
        The decoded text (not stripped).
    """
    return b"".join(pieces[i] or b"" for i in ids).decode("utf-8", errors="ignore")


def clean_decoded(
    pieces: Sequence[bytes | None], ids: Sequence[Sequence[int]], texts: Sequence[str]
) -> list[str]:
    """``texts`` (a tokenizer's lossy decoding of ``ids``) without invalid byte runs.

    Only a text showing U+FFFD is decoded again, by :func:`decode_clean`.
    """
    return [
        decode_clean(pieces, seq) if "\ufffd" in text else text
        for seq, text in zip(ids, texts, strict=True)
    ]
