"""The ASCII encoder gives the ids ``tokenizers`` gives, text for text."""

import random

import numpy as np
import pytest
from tokenizers import Tokenizer, normalizers, pre_tokenizers

from society.corpora.load import load_corpus
from society.lm.ascii_encoder import CLASSES, SPLIT, AsciiEncoder, qualifies
from society.lm.ascii_pieces import split_pieces
from society.lm.tokenizer import EOS, SharedTokenizer


@pytest.fixture(scope="module")
def kjv() -> list[str]:
    corpus = load_corpus("kjv", max_texts=4000)
    return [*corpus.train, *corpus.heldout]


@pytest.fixture(scope="module")
def shared(kjv) -> SharedTokenizer:
    return SharedTokenizer.train(kjv[:2000], vocab_size=800)


def library_ids(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


def random_ascii(seed: int, n: int) -> list[str]:
    """Strings over all 128 ASCII characters, weighted towards the regex's hard cases."""
    rng = random.Random(seed)
    every = [chr(i) for i in range(128)]
    hard = list(" \t\n\r\x0b\x0c\x1c\x1f'sStTreRvVmMlLdD09aZ!.,-")
    pick = lambda: rng.choice(every if rng.random() < 0.5 else hard)  # noqa: E731
    return ["".join(pick() for _ in range(rng.randint(1, 40))) for _ in range(n)]


def test_the_society_tokenizer_qualifies(shared):
    assert qualifies(shared.tokenizer)


def test_other_pipelines_do_not_qualify(shared):
    lowered = Tokenizer.from_str(shared.to_str())
    lowered.normalizer = normalizers.Lowercase()
    no_prefix = Tokenizer.from_str(shared.to_str())
    no_prefix.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    assert not qualifies(lowered)
    assert not qualifies(no_prefix)
    assert SharedTokenizer(lowered)._ascii is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_ascii_strings_encode_as_the_library_does(shared, seed):
    texts = random_ascii(seed, 3000)
    mine = AsciiEncoder(shared.tokenizer).encode_batch(texts)
    assert all(ids is not None for ids in mine)
    assert [ids.tolist() for ids in mine] == library_ids(shared.tokenizer, texts)


def test_corpus_texts_encode_as_the_library_does(shared, kjv):
    texts = [t for t in kjv if t.isascii()]
    assert len(texts) > 3000
    mine = AsciiEncoder(shared.tokenizer).encode_batch(texts)
    assert [ids.tolist() for ids in mine] == library_ids(shared.tokenizer, texts)


def test_texts_it_cannot_take_are_left_to_the_library(shared):
    encoder = AsciiEncoder(shared.tokenizer)
    texts = ["", "caf\u00e9 au lait", f"and then {EOS} again", "plain words"]
    found = encoder.encode_batch(texts)
    assert [ids is None for ids in found] == [True, True, True, False]


def test_shared_tokenizer_mixes_both_paths_in_order(shared):
    texts = ["plain words", "caf\u00e9", "", f"a {EOS} b", "  spaced  out  ", "plain words"]
    fresh = SharedTokenizer(Tokenizer.from_str(shared.to_str()))
    got = fresh.encode_batch(texts)
    assert [ids.tolist() for ids in got] == library_ids(shared.tokenizer, texts)
    assert all(ids.dtype == np.int32 and not ids.flags.writeable for ids in got)


@pytest.mark.parametrize("seed", [4, 5])
def test_the_compiled_split_cuts_where_the_regex_does(seed):
    texts = [t if t[0] == " " else " " + t for t in random_ascii(seed, 3000)]
    bounds = np.cumsum([0, *map(len, texts)])
    starts, firsts = split_pieces(np.frombuffer("".join(texts).encode(), np.uint8), bounds, CLASSES)
    for t, text in enumerate(texts):
        cut = starts[firsts[t] : firsts[t + 1]] - bounds[t]
        pieces = [text[a:b] for a, b in zip(cut, [*cut[1:], len(text)], strict=True)]
        assert pieces == SPLIT.findall(text)


def test_the_piece_table_starts_again_when_full(shared, monkeypatch):
    from society.lm import ascii_encoder

    monkeypatch.setattr(ascii_encoder, "MEMO_SIZE", 60)
    encoder = AsciiEncoder(shared.tokenizer)
    texts = random_ascii(3, 300)
    got, sizes = [], []
    for i in range(0, len(texts), 10):
        got += encoder.encode_batch(texts[i : i + 10])
        sizes.append(len(encoder.table))
        assert len(encoder.table) <= 60 + 10 * 40  # the limit, and one batch's pieces
    assert [ids.tolist() for ids in got] == library_ids(shared.tokenizer, texts)
    assert any(b < a for a, b in zip(sizes, sizes[1:], strict=False))  # it started again


def test_the_piece_table_grows_and_keeps_every_piece(shared):
    encoder = AsciiEncoder(shared.tokenizer)
    texts = random_ascii(6, 4000)
    first = encoder.encode_batch(texts[:2000])
    pieces = len(encoder.table)
    assert len(encoder.table.slots) >= 2 * pieces > 2 * 1000  # grew from its first size
    again = encoder.encode_batch(texts[:2000])  # every piece found, none added
    assert len(encoder.table) == pieces
    assert [a.tolist() for a in again] == [a.tolist() for a in first]
    rest = encoder.encode_batch(texts[2000:])
    assert [ids.tolist() for ids in first + rest] == library_ids(shared.tokenizer, texts)
