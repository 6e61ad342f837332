import numpy as np
import pytest
from tokenizers import pre_tokenizers

from society.lm.utf8 import ACCEPT, REJECT, Utf8Table, byte_decoder, decode_clean


def strict_ok(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_byte_alphabet_is_the_byte_level_one() -> None:
    decoder = byte_decoder()
    assert set(decoder) == set(pre_tokenizers.ByteLevel.alphabet())
    assert sorted(decoder.values()) == list(range(256))
    assert decoder["a"] == ord("a")
    assert decoder["Ġ"] == ord(" ")  # GPT-2's printable stand-in for the space byte


def test_automaton_agrees_with_strict_decoder() -> None:
    """Single bytes as tokens: a sequence ends in ACCEPT iff Python decodes it strictly."""
    table = Utf8Table([bytes([b]) for b in range(256)])
    rng = np.random.default_rng(0)
    specials = [0x80, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xA0, 0x9F, 0xED, 0xF0, 0x90, 0xF4, 0x8F, 0xF5]
    for _ in range(3000):
        n = int(rng.integers(1, 7))
        pool = specials if rng.random() < 0.7 else list(range(256))
        data = bytes(int(b) for b in rng.choice(pool, n))
        state = np.zeros(1, dtype=np.int8)
        for b in data:
            state = table.advance(state, np.array([b]))
        assert (int(state[0]) == ACCEPT) == strict_ok(data), data.hex()


def test_multibyte_tokens_and_end_of_text() -> None:
    pieces = [b"caf", "é".encode(), b"\xc3", b"\xa9", b"\xa9 ok", None]
    table = Utf8Table(pieces, end_ids=[5])
    start = np.zeros(len(pieces), dtype=np.int8)
    after = table.advance(start, np.arange(len(pieces)))
    assert after.tolist() == [ACCEPT, ACCEPT, 1, REJECT, REJECT, ACCEPT]
    mid = np.array([1])  # owes one continuation byte
    assert table.allowed(mid)[0].tolist() == [False, False, False, True, True, False]
    assert table.advance(np.array([REJECT]), np.array([0])).tolist() == [REJECT]


@pytest.mark.parametrize(
    ("ids", "want"),
    [
        ([0, 2], "caf"),  # ends mid-character: the lead byte is dropped
        ([0, 3, 0], "cafcaf"),  # stray continuation byte dropped
        ([0, 2, 3], "café"),
        ([0, 4], "caf\ufffd"),  # a U+FFFD spelled by valid bytes is text
        ([5, 0, 5], "caf"),  # special tokens add nothing
    ],
)
def test_decode_clean(ids: list[int], want: str) -> None:
    pieces = [b"caf", b"\xc3", b"\xc3", b"\xa9", "\ufffd".encode(), None]
    assert decode_clean(pieces, ids) == want
