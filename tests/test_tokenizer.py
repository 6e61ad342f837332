import numpy as np
import pytest

from society.lm import tokenizer as tok_module
from society.lm.tokenizer import SharedTokenizer

TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a bird flew over the house"] * 20


@pytest.fixture(scope="module")
def tok():
    return SharedTokenizer.train(TEXTS, vocab_size=300)


def test_round_trip_including_unseen_word_forms(tok):
    texts = ["the cat sat", "zqxv blorptastic the dog"]
    assert tok.decode_batch(tok.encode_batch(texts)) == texts


def test_training_is_deterministic():
    a = SharedTokenizer.train(TEXTS, vocab_size=300)
    b = SharedTokenizer.train(TEXTS, vocab_size=300)
    assert a.to_str() == b.to_str()


def test_frequent_words_are_single_tokens(tok):
    (ids,) = tok.encode_batch(["the"])
    assert len(ids) == 1
    assert tok.eos_id not in tok.encode_batch(TEXTS[:3])[0]


def test_save_load(tok, tmp_path):
    tok.save(tmp_path / "tokenizer.json")
    again = SharedTokenizer.load(tmp_path / "tokenizer.json")
    assert [list(x) for x in again.encode_batch(TEXTS[:3])] == [
        list(x) for x in tok.encode_batch(TEXTS[:3])
    ]
    assert again.vocab_size == tok.vocab_size


def test_cache_returns_same_ids_and_survives_overflow(tok, monkeypatch):
    monkeypatch.setattr(tok_module, "CACHE_SIZE", 3)
    fresh = SharedTokenizer(tok.tokenizer)
    first = fresh.encode_batch(["a b", "c d"])
    second = fresh.encode_batch(["a b", "e f", "g h"])  # overflows: cache cleared
    np.testing.assert_array_equal(first[0], second[0])
    assert len(second) == 3
    assert not second[0].flags.writeable


def test_transformers_view(tok):
    hf = tok.as_transformers()
    assert hf("the cat")["input_ids"] == list(tok.encode_batch(["the cat"])[0])
    assert hf.eos_token_id == tok.eos_id


ACCENTED = ["le café était fermé à l’aube", "“déjà vu” à Noël", "日本語 🙂", "kept \ufffd"] * 10


def test_decode_drops_incomplete_characters_keeps_real_replacement_char():
    tok = SharedTokenizer.train(ACCENTED, vocab_size=280)
    texts = ["le café était", "日本語 🙂", "kept \ufffd"]
    assert tok.decode_batch(tok.encode_batch(texts)) == texts  # valid text is untouched
    cafe = tok.tokenizer.encode("café", add_special_tokens=False).ids
    assert len(cafe) > 1  # é is split into bytes by this small vocabulary
    byte_of = {p: i for i, p in enumerate(tok.pieces) if p is not None and len(p) == 1}
    cut = [*tok.encode_batch(["le caf"])[0], byte_of[b"\xc3"]]  # ends mid-character
    stray = [byte_of[b"\xa9"], *tok.encode_batch(["vu"])[0]]  # continuation byte, no lead
    assert tok.decode_batch([cut, stray, [tok.eos_id, *cut]]) == ["le caf", "vu", "le caf"]


def test_pieces_spell_each_token():
    tok = SharedTokenizer.train(ACCENTED, vocab_size=280)
    assert tok.pieces[tok.eos_id] is None
    ids = tok.encode_batch(["le café était fermé"])[0]
    assert b"".join(tok.pieces[i] for i in ids) == " le café était fermé".encode()


def test_decode_by_byte_table_equals_the_tokenizers_decode():
    """Random id sequences over the whole vocabulary (split characters, stray bytes,
    end-of-text anywhere, empty sequences): the byte table decodes what ``tokenizers`` does."""
    tok = SharedTokenizer.train(ACCENTED, vocab_size=280)
    rng = np.random.default_rng(0)
    ids = [rng.integers(0, tok.vocab_size, rng.integers(0, 30)) for _ in range(3000)]
    ids += [np.zeros(0, dtype=np.int64), np.array([tok.eos_id])]
    ids += tok.encode_batch(ACCENTED)
    fast = tok.decode_batch(ids)
    assert fast == tok._decode_with_library(ids)
    assert any("\ufffd" in t for t in fast) and any(t == "" for t in fast)
    assert sum(len(t) for t in fast) > 20000  # real text, not empty strings


def test_decode_sends_ids_the_byte_table_cannot_spell_to_tokenizers(tok, monkeypatch):
    calls = []
    library = SharedTokenizer._decode_with_library
    monkeypatch.setattr(
        SharedTokenizer, "_decode_with_library", lambda s, ids: calls.append(1) or library(s, ids)
    )
    assert tok.decode_batch([[tok.vocab_size + 5]]) == [""] and tok.decode_batch([]) == []
    assert tok.decode_batch(tok.encode_batch(["the cat"])) == ["the cat"] and len(calls) == 1


def test_decode_rows_equals_decode_batch_of_each_row_prefix():
    """Rows of a padded id matrix cut at their lengths (zero included, padding that is not
    text after them): the texts ``decode_batch`` gives those prefixes."""
    tok = SharedTokenizer.train(ACCENTED, vocab_size=280)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, tok.vocab_size, (2000, 25))
    lengths = rng.integers(0, 26, 2000)
    lengths[:5] = 0
    expected = tok.decode_batch([row[:n] for row, n in zip(ids, lengths, strict=True)])
    assert tok.decode_rows(ids, lengths) == expected
    assert sum(map(len, expected)) > 10000
    assert tok.decode_rows(ids[:0], lengths[:0]) == []


def test_decode_rows_sends_ids_the_byte_table_cannot_spell_to_tokenizers(tok, monkeypatch):
    calls = []
    library = SharedTokenizer._decode_with_library
    monkeypatch.setattr(
        SharedTokenizer, "_decode_with_library", lambda s, ids: calls.append(1) or library(s, ids)
    )
    ids = np.array([[tok.vocab_size + 5, 0], [*tok.encode_batch(["the"])[0][:1], 0]])
    assert tok.decode_rows(ids, np.array([1, 1])) == ["", "the"]
    assert len(calls) == 1


def test_spell_joins_each_ids_bytes():
    from society.lm.spell import spell

    table = np.frombuffer(b"abcdefg", dtype=np.uint8)
    offsets = np.array([0, 1, 3, 3, 7])  # "a", "bc", "", "defg"
    got = spell(table, offsets, np.array([3, 0, 2, 1, 1], dtype=np.int64)).tobytes()
    assert got == b"defgabcbc"
    assert spell(table, offsets, np.zeros(0, dtype=np.int64)).tobytes() == b""
