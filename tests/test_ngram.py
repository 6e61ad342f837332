import dataclasses
from collections import Counter

import numpy as np
import pytest

from society.lm.base import LanguageModel, perplexity
from society.lm.ngram import NGramLM
from society.lm.request import SpeechRequest
from society.lm.tokenizer import SharedTokenizer

ANIMALS = ["fox", "hen", "owl", "cat", "dog", "yak", "eel", "bee", "ram", "elk"]
VERBS = ["sees", "chases", "follows", "greets", "ignores", "likes", "feeds", "hears"]
PLACES = ["river", "barn", "hill", "field", "wood", "lake"]
UNRELATED = [
    "Quantum chromodynamics predicts asymptotic freedom at short distances.",
    "Zygotes undergo cleavage; blastomeres divide rapidly without growth.",
    "Xylophones jangle while jazz quartets improvise syncopated rhythms.",
    "Vectorised kernels exploit SIMD lanes for throughput, 42% faster!",
]


def make_corpus(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a, b = rng.choice(ANIMALS, 2, replace=False)
        text = f"the {a} {rng.choice(VERBS)} the {b}"
        if rng.random() < 0.5:
            text += f" near the {rng.choice(PLACES)}"
        out.append(text + ".")
    return out


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return make_corpus(600, seed=0)


@pytest.fixture(scope="module")
def tok(corpus: list[str]) -> SharedTokenizer:
    return SharedTokenizer.train(corpus + UNRELATED, vocab_size=400)


@pytest.fixture(scope="module")
def model(tok: SharedTokenizer, corpus: list[str]) -> NGramLM:
    lm = NGramLM(tok, order=3)
    lm.fit(corpus)
    return lm


def contexts_for(lm: NGramLM, texts: list[str], n_random: int = 10) -> np.ndarray:
    """Seen contexts (from the texts' windows) plus random, mostly unseen ones."""
    windows, _ = lm._windows(texts)
    rng = np.random.default_rng(1)
    random = rng.integers(0, lm.vocab_size, size=(n_random, lm.order - 1))
    return np.concatenate([windows[:, :-1], random]).astype(np.int64)


def gram_counts(lm: NGramLM) -> dict[tuple[int, ...], float]:
    state = lm.state()
    pairs = zip(state["grams"], state["counts"], strict=True)
    return {tuple(int(t) for t in g): float(c) for g, c in pairs}


def forget_fit(tok: SharedTokenizer, texts: list[str]) -> NGramLM:
    lm = NGramLM(tok, order=3)
    lm.fit(texts)
    return lm


def reference_sampling_probs(p: np.ndarray, temperature: float, top_p: float) -> np.ndarray:
    """Temperature then nucleus on dense rows, the straightforward way."""
    q = np.exp((np.log(p) - np.log(p.max(axis=1, keepdims=True))) / temperature)
    q /= q.sum(axis=1, keepdims=True)
    out = np.zeros_like(q)
    for i, row in enumerate(q):
        ordered = np.sort(row)[::-1]
        cut = np.searchsorted(np.cumsum(ordered), top_p) if top_p < 1 else len(row) - 1
        tau = ordered[min(cut, len(row) - 1)]
        out[i] = np.where(row >= tau, row, 0.0)
    return out / out.sum(axis=1, keepdims=True)


def test_implements_protocol(model: NGramLM) -> None:
    assert isinstance(model, LanguageModel)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("memory", [0.0, 0.6])
def test_next_token_probs_sum_to_one(
    tok: SharedTokenizer, corpus: list[str], order: int, memory: float
) -> None:
    lm = NGramLM(tok, order=order, memory=memory)
    lm.fit(corpus[:300])
    lm.update(corpus[300:])
    ctx = contexts_for(lm, corpus[:5] + UNRELATED[:1])
    probs = lm.next_token_probs(ctx)
    assert probs.shape == (len(ctx), tok.vocab_size)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert (probs > 0).all()


def reference_kneser_ney(lm: NGramLM, windows: np.ndarray) -> np.ndarray:
    """Interpolated Kneser-Ney from the model's counts with plain dicts, one window at a time."""
    n, d, v = lm.order, lm.discount, lm.vocab_size
    top = gram_counts(lm)
    raw = [dict() for _ in range(n + 1)]  # raw[k]: counts of k-gram suffixes
    for gram, c in top.items():
        for k in range(1, n + 1):
            raw[k][gram[n - k :]] = raw[k].get(gram[n - k :], 0.0) + c
    adjusted = [dict() for _ in range(n + 1)]
    adjusted[n] = raw[n]
    for k in range(1, n):
        for gram, c in raw[k + 1].items():
            adjusted[k][gram[1:]] = adjusted[k].get(gram[1:], 0.0) + min(c, 1.0)
    totals = [dict() for _ in range(n + 1)]
    floors = [dict() for _ in range(n + 1)]
    for k in range(1, n + 1):
        for gram, a in adjusted[k].items():
            h = gram[:-1]
            totals[k][h] = totals[k].get(h, 0.0) + a
            floors[k][h] = floors[k].get(h, 0.0) + min(a, d)

    def prob(k: int, h: tuple[int, ...], w: int) -> float:
        if k == 0:
            return 1.0 / v
        lower = prob(k - 1, h[1:], w)
        total = totals[k].get(h, 0.0)
        if total == 0:
            return lower
        a = adjusted[k].get(h + (w,), 0.0)
        return max(a - d, 0.0) / total + floors[k][h] / total * lower

    return np.array([prob(n, tuple(int(t) for t in win[:-1]), int(win[-1])) for win in windows])


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_matches_reference_kneser_ney(tok: SharedTokenizer, corpus: list[str], order: int) -> None:
    lm = NGramLM(tok, order=order, memory=0.6)
    lm.fit(corpus[:60])
    lm.update(corpus[60:100])
    texts = corpus[:3] + make_corpus(3, seed=42) + UNRELATED[:1]
    windows, text_index = lm._windows(texts)
    want = reference_kneser_ney(lm, windows)
    got = lm.next_token_probs(windows[:, :-1])[np.arange(len(windows)), windows[:, -1]]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    loglik, _ = lm.score(texts)
    np.testing.assert_allclose(loglik, np.bincount(text_index, weights=np.log(want)), rtol=1e-10)


def test_seen_context_is_peaked_unseen_backs_off(model: NGramLM, tok: SharedTokenizer) -> None:
    eos = tok.eos_id
    start = model.next_token_probs(np.array([[eos, eos]]))[0]
    # Every training text starts with "the": it dominates after the padding context.
    the = tok.encode_batch(["the"])[0]
    assert len(the) == 1
    assert start.argmax() == the[0]
    assert start.max() > 0.9
    unseen = model.next_token_probs(np.array([[eos, tok.encode_batch(["Zygotes"])[0][0]]]))[0]
    assert unseen.max() < start.max()


def test_score_matches_stepwise_probabilities(model: NGramLM, tok: SharedTokenizer) -> None:
    texts = ["the fox sees the hen.", "the yak likes the bee near the lake.", UNRELATED[0]]
    loglik, ntokens = model.score(texts)
    assert loglik.dtype == np.float64
    eos = tok.eos_id
    for text, ll, nt in zip(texts, loglik, ntokens, strict=True):
        ids = list(tok.encode_batch([text])[0]) + [eos]
        padded = [eos, eos] + ids
        ctx = np.array([padded[i : i + 2] for i in range(len(ids))])
        probs = model.next_token_probs(ctx)
        expected = np.log(probs[np.arange(len(ids)), ids]).sum()
        assert nt == len(ids)
        assert ll == pytest.approx(expected, rel=1e-10)


def test_score_empty_and_unfitted(tok: SharedTokenizer) -> None:
    lm = NGramLM(tok, order=3)
    loglik, ntokens = lm.score([])
    assert loglik.shape == (0,) and ntokens.shape == (0,)
    # Untrained: uniform over the vocabulary.
    loglik, ntokens = lm.score(["the fox."])
    assert loglik[0] == pytest.approx(-ntokens[0] * np.log(tok.vocab_size))
    lm.fit([])
    probs = lm.next_token_probs(np.zeros((2, 2), dtype=np.int64))
    np.testing.assert_allclose(probs, 1.0 / tok.vocab_size)
    assert len(lm.sample(SpeechRequest(3, rng=np.random.default_rng(0), max_tokens=5))) == 3


def test_training_text_more_likely_than_unrelated(model: NGramLM) -> None:
    train = perplexity(*model.score(make_corpus(50, seed=0)))
    heldout = perplexity(*model.score(make_corpus(50, seed=99)))
    unrelated = perplexity(*model.score(UNRELATED))
    assert train < unrelated / 10
    assert heldout < unrelated / 10
    assert train <= heldout * 1.2


def test_tiny_corpus_is_reproduced_at_low_temperature(tok: SharedTokenizer) -> None:
    lm = NGramLM(tok, order=3)
    lm.fit(["the cat sees the owl near the barn."] * 5 + ["the dog hears the yak."] * 2)
    rng = np.random.default_rng(0)
    out = lm.sample(SpeechRequest(20, rng=rng, temperature=0.01))
    assert out == ["the cat sees the owl near the barn."] * 20
    cont = lm.sample(
        SpeechRequest(4, rng=rng, temperature=0.01, prompts=["the dog"] * 2 + ["the cat"] * 2)
    )
    assert cont == ["hears the yak."] * 2 + ["sees the owl near the barn."] * 2
    ids = tok.encode_batch(["the cat sees the owl near the barn."])[0]
    short = lm.sample(SpeechRequest(3, rng=rng, temperature=0.01, max_tokens=3))
    assert short == tok.decode_batch([ids[:3]]) * 3


def test_same_seed_same_samples(model: NGramLM) -> None:
    def draw(seed: int) -> list[str]:
        return model.sample(SpeechRequest(30, rng=np.random.default_rng(seed), max_tokens=20))

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)
    a = model.sample(SpeechRequest(10, rng=np.random.default_rng(3), temperature=0.7, top_p=0.8))
    b = model.sample(SpeechRequest(10, rng=np.random.default_rng(3), temperature=0.7, top_p=0.8))
    assert a == b


def test_small_top_p_reduces_diversity(model: NGramLM) -> None:
    wide = model.sample(SpeechRequest(200, rng=np.random.default_rng(0), top_p=1.0))
    narrow = model.sample(SpeechRequest(200, rng=np.random.default_rng(0), top_p=0.2))
    assert len(set(narrow)) < len(set(wide)) / 3


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("memory", [0.0, 0.6])
def test_sampling_probs_match_dense_reference(
    tok: SharedTokenizer, corpus: list[str], order: int, memory: float
) -> None:
    lm = NGramLM(tok, order=order, memory=memory)
    lm.fit(corpus[:300])
    lm.update(corpus[300:])
    ctx = contexts_for(lm, corpus[:20] + UNRELATED[:2])
    probs = lm.next_token_probs(ctx)
    for temperature in [1.0, 0.7, 1.6, 0.05]:
        for top_p in [1.0, 0.95, 0.8, 0.4, 0.05]:
            got = lm.sampling_probs(ctx, temperature=temperature, top_p=top_p)
            want = reference_sampling_probs(probs, temperature, top_p)
            np.testing.assert_allclose(got, want, atol=1e-9, err_msg=f"T={temperature} p={top_p}")


def test_some_rows_of_a_step_are_their_sampling_probs(
    tok: SharedTokenizer, corpus: list[str]
) -> None:
    """What a redraw gets from the step it came from equals computing those rows anew."""
    lm = NGramLM(tok, order=3)
    lm.fit(corpus[:300])
    ctx = contexts_for(lm, corpus[:20] + UNRELATED[:2])
    which = np.array([0, 3, 4, len(ctx) - 1])
    for temperature, top_p in [(1.0, 1.0), (0.7, 0.8), (1.6, 0.3)]:
        dense = lm._dense_weights(temperature)
        rows = lm._dense_probs(lm._step(ctx, top_p, dense), which, dense)
        alone = lm.sampling_probs(ctx[which], temperature=temperature, top_p=top_p)
        np.testing.assert_array_equal(rows, alone)


def test_draws_follow_sampling_probs(model: NGramLM, tok: SharedTokenizer) -> None:
    n, temperature, top_p = 20000, 0.8, 0.9
    prompt = "the fox sees the"
    firsts = model.sample(
        SpeechRequest(
            n,
            rng=np.random.default_rng(4),
            max_tokens=1,
            temperature=temperature,
            top_p=top_p,
            prompts=[prompt] * n,
        )
    )
    ids = list(tok.encode_batch([prompt])[0])
    probs = model.sampling_probs(np.array([ids[-2:]]), temperature=temperature, top_p=top_p)[0]
    support = np.flatnonzero(probs)
    names = tok.decode_batch([[t] for t in support])
    expected: Counter[str] = Counter()
    for name, p in zip(names, probs[support], strict=True):
        expected[name] += p
    observed = Counter(firsts)
    assert set(observed) <= set(expected)
    for name, p in expected.items():
        assert observed[name] / n == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n) + 1e-3)


def test_memory_semantics(tok: SharedTokenizer, corpus: list[str]) -> None:
    old, new = corpus[:200], corpus[200:260]
    probe = make_corpus(40, seed=5)

    fresh = NGramLM(tok, order=3)
    fresh.fit(new)
    forget = NGramLM(tok, order=3, memory=0.0)
    forget.fit(old)
    forget.update(new)
    np.testing.assert_allclose(forget.score(probe)[0], fresh.score(probe)[0], rtol=1e-12)

    summed = NGramLM(tok, order=3)
    summed.fit(old + new)
    keep = NGramLM(tok, order=3, memory=1.0)
    keep.fit(old)
    keep.update(new)
    np.testing.assert_allclose(keep.score(probe)[0], summed.score(probe)[0], rtol=1e-12)
    np.testing.assert_array_equal(keep.state()["grams"], summed.state()["grams"])
    np.testing.assert_array_equal(keep.state()["counts"], summed.state()["counts"])

    half = NGramLM(tok, order=3, memory=0.5)
    half.fit(old)
    half.update(new)
    counts = gram_counts(half)
    first, second = gram_counts(forget_fit(tok, old)), gram_counts(fresh)
    assert set(counts) == set(first) | set(second)
    for gram, c in counts.items():
        assert c == pytest.approx(0.5 * first.get(gram, 0.0) + second.get(gram, 0.0))


def test_decayed_counts_are_dropped(tok: SharedTokenizer, corpus: list[str]) -> None:
    lm = NGramLM(tok, order=2, memory=0.1)
    lm.fit(["Zygotes undergo cleavage."])
    only_old = set(tok.encode_batch(["Zygotes undergo cleavage."])[0]) - set(
        np.concatenate(tok.encode_batch(corpus[:50]))
    )
    assert only_old

    def remembers() -> bool:
        return bool(np.isin(lm.state()["grams"], list(only_old)).any())

    for _ in range(3):  # counts 0.1, 0.01, 0.001: kept
        lm.update(corpus[:50])
        assert remembers()
    lm.update(corpus[:50])  # 1e-4 < MIN_COUNT: dropped
    assert not remembers()


def test_state_roundtrip(model: NGramLM, tok: SharedTokenizer, corpus: list[str]) -> None:
    state = model.state()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert state["order"].shape == () and int(state["order"]) == 3
    fresh = NGramLM(tok, order=2, discount=0.5, memory=0.3)
    fresh.load(state)
    assert (fresh.order, fresh.discount, fresh.memory) == (3, 0.75, 0.0)
    probe = make_corpus(30, seed=7) + UNRELATED
    np.testing.assert_array_equal(fresh.score(probe)[0], model.score(probe)[0])
    rng_a, rng_b = np.random.default_rng(8), np.random.default_rng(8)
    assert fresh.sample(SpeechRequest(10, rng=rng_a)) == model.sample(SpeechRequest(10, rng=rng_b))
    other = SharedTokenizer.train(corpus, vocab_size=300)
    with pytest.raises(ValueError, match="vocabulary"):
        NGramLM(other).load(state)


def test_pickle_keeps_counts_and_derives_the_same_tables(model: NGramLM) -> None:
    """A run's resume state pickles the counts; the lookup tables are derived again."""
    import pickle

    data = pickle.dumps(model)
    assert "_tables" not in model.__getstate__()
    assert len(data) < len(pickle.dumps(model.__dict__)) - len(pickle.dumps(model._tables)) / 2
    twin = pickle.loads(data)
    for a, b in zip(vars(twin._tables).values(), vars(model._tables).values(), strict=True):
        pairs = zip(a, b, strict=True) if isinstance(a, list) else [(a, b)]
        for x, y in pairs:
            np.testing.assert_array_equal(x, y)
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    assert twin.sample(SpeechRequest(10, rng=rng_a)) == model.sample(SpeechRequest(10, rng=rng_b))
    assert not twin._counts.flags.writeable


def test_clone_is_independent(model: NGramLM, corpus: list[str]) -> None:
    probe = make_corpus(30, seed=11)
    before = model.score(probe)[0].copy()
    twin = model.clone()
    assert isinstance(twin, NGramLM) and twin is not model
    np.testing.assert_array_equal(twin.score(probe)[0], before)
    twin.update(UNRELATED)  # memory 0: the twin now knows only the unrelated texts
    assert not np.allclose(twin.score(probe)[0], before)
    np.testing.assert_array_equal(model.score(probe)[0], before)
    with pytest.raises(ValueError):
        model.state()["counts"][0] = 1.0  # state() copies are writable ...
        model._counts[0] = 1.0  # ... but the model's own arrays are read-only


def test_rejects_bad_arguments(model: NGramLM, tok: SharedTokenizer) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        model.sample(SpeechRequest(2, rng=rng, temperature=0.0))
    with pytest.raises(ValueError):
        model.sample(SpeechRequest(2, rng=rng, top_p=0.0))
    with pytest.raises(ValueError):
        model.sample(SpeechRequest(2, rng=rng, prompts=["one"]))
    with pytest.raises(ValueError):
        model.next_token_probs(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError):
        NGramLM(tok, order=0)


ACCENTED = [
    "le café était fermé à l’aube",
    "“déjà vu” dit-il à Noël",
    "über straße größe ñandú",
    "日本語のテキスト 🙂",
]


@pytest.fixture(scope="module")
def accented() -> NGramLM:
    tok = SharedTokenizer.train(ACCENTED * 20 + ["kept \ufffd once"], vocab_size=330)
    lm = NGramLM(tok, order=3)
    lm.fit(ACCENTED * 20)
    return lm


def test_samples_from_multibyte_corpus_are_valid_text(accented: NGramLM) -> None:
    """Hot sampling draws many split characters; none may decode to U+FFFD."""
    rng = np.random.default_rng(0)
    hot = accented.sample(SpeechRequest(400, rng=rng, max_tokens=30, temperature=2.0))
    cut = accented.sample(SpeechRequest(400, rng=rng, max_tokens=3))  # often stops mid-character
    texts = hot + cut
    assert not [t for t in texts if "\ufffd" in t]
    assert sum(any(ord(c) > 127 for c in t) for t in hot) > 200  # multi-byte text is made


def test_replacement_char_in_training_text_is_kept() -> None:
    tok = SharedTokenizer.train(["kept \ufffd here"] * 20, vocab_size=300)
    lm = NGramLM(tok, order=3)
    lm.fit(["kept \ufffd here"] * 20)
    assert (
        lm.sample(SpeechRequest(5, rng=np.random.default_rng(0), temperature=0.01))
        == ["kept \ufffd here"] * 5
    )


def test_refused_draw_follows_the_valid_part_of_the_distribution(accented: NGramLM) -> None:
    """Mid-character, a redraw samples ``sampling_probs`` restricted to allowed tokens."""
    tok = accented.tokenizer
    lead = next(i for i, p in enumerate(tok.pieces) if p == b"\xc3")
    context = np.array([[tok.encode_batch(["caf"])[0][-1], lead]] * 20000)
    states = np.ones(len(context), dtype=np.int8)  # one continuation byte owed
    rng = np.random.default_rng(1)
    nucleus = accented.sampling_probs(context, top_p=0.9)
    drawn = accented._redraw_valid(context, states, nucleus, rng, temperature=1.0)
    probs = nucleus[0] * tok.utf8.allowed(states[:1])[0]
    probs /= probs.sum()
    observed = np.bincount(drawn, minlength=len(probs)) / len(drawn)
    assert set(np.flatnonzero(observed)) <= set(np.flatnonzero(probs))
    np.testing.assert_allclose(observed, probs, atol=4 * np.sqrt(0.25 / len(drawn)) + 1e-3)


def test_redraw_falls_back_when_the_nucleus_has_no_allowed_token(accented: NGramLM) -> None:
    tok = accented.tokenizer
    context = np.array([[tok.eos_id, tok.encode_batch(["le"])[0][-1]]] * 50)
    states = np.ones(len(context), dtype=np.int8)
    nucleus = accented.sampling_probs(context[:1], top_p=1e-9)[0] > 0
    assert not (nucleus & tok.utf8.allowed(states[:1])[0]).any()  # the fallback is needed
    probs = accented.sampling_probs(context, temperature=0.5, top_p=1e-9)
    drawn = accented._redraw_valid(context, states, probs, np.random.default_rng(0), 0.5)
    assert tok.utf8.allowed(states)[np.arange(len(drawn)), drawn].all()
    assert len(set(drawn.tolist())) > 1  # drawn from a distribution, not a fixed token


def test_tables_are_stored_in_32_bits_and_looked_up_without_widening(model: NGramLM) -> None:
    """Key arrays, row pointers and the rank order take int32 when their key space fits,
    and lookups cast the query, not the table (which numpy would copy to int64)."""
    from society.lm.ngram_kernels import find, index_dtype

    t = model._tables
    for array in [*t.contexts, *t.keys, *t.indptr, t.order, t.rank]:
        assert array.dtype == np.int32
    assert index_dtype(2**31 - 1) is np.int32 and index_dtype(2**31) is np.int64
    table = t.keys[-1]
    queries = np.array([-5, 0, int(table[3]), int(table[-1]), int(table[-1]) + 1], dtype=np.int64)
    np.testing.assert_array_equal(find(table, queries), np.searchsorted(table, queries))
    clone = NGramLM(model.tokenizer, order=3)
    clone._set_counts(model._grams, model._counts)
    wide = {f: [a.astype(np.int64) for a in getattr(t, f)] for f in ("contexts", "keys", "indptr")}
    clone._built = dataclasses.replace(clone._tables, **wide)
    texts = make_corpus(30, seed=5)
    for ours, theirs in zip(model.score(texts), clone.score(texts), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_counts_are_held_as_uint16_and_saved_as_int32(model: NGramLM) -> None:
    """Token ids below 65,536 are held in half the memory; the state and the lookup tables
    are those of int32 grams, array for array."""
    assert model._grams.dtype == np.uint16
    assert model.state()["grams"].dtype == np.int32
    wide = model._build(model._grams.astype(np.int32), model._counts)
    for got, want in zip(
        dataclasses.astuple(model._tables), dataclasses.astuple(wide), strict=True
    ):
        for a, b in zip(
            got if isinstance(got, list) else [got],
            want if isinstance(want, list) else [want],
            strict=True,
        ):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
