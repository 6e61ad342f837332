from society.lm.tokenizer import SharedTokenizer
from society.lm.tokens import CheckpointTokens

TEXTS = ["le café était fermé", "“déjà vu” à Noël", "kept \ufffd"] * 10


def test_checkpoint_tokens_drop_incomplete_characters(tmp_path):
    shared = SharedTokenizer.train(TEXTS, vocab_size=270)
    shared.as_transformers().save_pretrained(tmp_path)
    tokens = CheckpointTokens(tmp_path)
    byte_of = {p: i for i, p in enumerate(shared.pieces) if p is not None and len(p) == 1}
    cut = [*tokens.encode_batch(["le caf"])[0], byte_of[b"\xc3"]]
    kept = tokens.encode_batch(["kept \ufffd", "le café"])
    assert tokens.decode_batch([cut, *kept]) == ["le caf", "kept \ufffd", "le café"]
