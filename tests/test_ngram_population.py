"""The population paths of the n-gram model give exactly the per-agent results."""

import dataclasses

import numpy as np
import pytest

from society.lm import ngram_population
from society.lm.base import sample_many, score_many, update_many
from society.lm.ngram import NGramLM
from society.lm.ngram_population import bisect_rows, segment_cumsum
from society.lm.request import SpeechRequest
from society.lm.tokenizer import SharedTokenizer

WORDS = ["fox", "hen", "owl", "café", "naïve", "Ärger", "über", "straße", "東京", "日本語", "ñu"]
WORDS += ["señor", "crème", "brûlée", "élan", "zoë", "çà", "€uro", "π", "λόγος", "мир"]


def corpus(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, rng.integers(2, 7))) + "." for _ in range(n)]


@pytest.fixture(scope="module")
def tok() -> SharedTokenizer:
    # Few merges: multi-byte characters stay split into byte tokens (UTF-8 redraws happen).
    return SharedTokenizer.train(corpus(300, 0), vocab_size=300)


def population(tok: SharedTokenizer, order: int, n_agents: int = 7) -> list[NGramLM]:
    """Agents trained on different texts; agent 2 has empty tables."""
    models = []
    for a in range(n_agents):
        lm = NGramLM(tok, order=order, memory=0.5)
        if a != 2:
            lm.fit(corpus(5 + 9 * a, seed=10 + a))
        models.append(lm)
    return models


def requests(n_agents: int, seed: int, **kw) -> list[SpeechRequest]:
    sizes = [3, 0, 5, 1, 8, 2, 4, 6, 3][:n_agents]
    out = []
    for a, n in enumerate(sizes):
        fields = dict(kw)
        if fields.pop("with_prompts", False):
            fields["prompts"] = corpus(n, seed=99 + a) if a % 2 else None
            fields["prompts"] = [p[: 4 + i] for i, p in enumerate(fields["prompts"] or [])] or None
            if n == 0:
                fields["prompts"] = None
        out.append(SpeechRequest(n, rng=np.random.default_rng([seed, a]), **fields))
    return out


def test_bisect_rows_is_searchsorted() -> None:
    rng = np.random.default_rng(0)
    table = np.sort(rng.integers(0, 20, size=(50, 30)), axis=1).ravel().astype(float)
    for side in ("left", "right"):
        lo = np.arange(50) * 30 + rng.integers(0, 15, 50)
        hi = lo + rng.integers(0, 16, 50)
        x = rng.integers(-1, 22, 50).astype(float)
        want = [lo[i] + np.searchsorted(table[lo[i] : hi[i]], x[i], side) for i in range(50)]
        np.testing.assert_array_equal(bisect_rows(table, lo, hi, x, side), want)


def test_segment_cumsum_is_cumsum_per_segment() -> None:
    rng = np.random.default_rng(1)
    lengths = rng.integers(0, 40, 30)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = rng.random(offsets[-1]) * 10.0 ** rng.integers(-8, 8, offsets[-1])
    got = segment_cumsum(values, offsets)
    want = np.concatenate(
        [np.concatenate([[0.0], np.cumsum(values[offsets[s] : offsets[s + 1]])]) for s in range(30)]
    )
    assert np.array_equal(got, want)  # bit for bit, not approximately


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"temperature": 0.7, "top_p": 0.8},
        {"temperature": 1.6, "top_p": 0.5, "with_prompts": True},
        {"top_p": 0.95, "max_tokens": 7, "with_prompts": True},
    ],
)
def test_sample_together_gives_the_same_texts(
    tok: SharedTokenizer, order: int, kw: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = population(tok, order)
    redraws, kernel_rows = [], []
    original, kernel = NGramLM._valid_probs, ngram_population.redraw_default

    def counting(self, *args, **kwargs):
        redraws.append(len(args[0]))
        return original(self, *args, **kwargs)

    def counting_kernel(*args):
        kernel_rows.append(len(args[0]))
        return kernel(*args)

    monkeypatch.setattr(NGramLM, "_valid_probs", counting)
    monkeypatch.setattr(ngram_population, "redraw_default", counting_kernel)
    alone = [m.sample(r) for m, r in zip(models, requests(len(models), 5, **kw), strict=True)]
    n_alone = sum(redraws)
    together = sample_many(models, requests(len(models), 5, **kw))
    assert together == alone
    assert sum(map(len, alone)) == 23
    if order > 1:  # byte tokens of split characters are drawn and refused
        fused = not kw  # default sampling redraws in the compiled kernel
        assert n_alone > 0
        assert sum(kernel_rows) == (n_alone if fused else 0)
        assert sum(redraws) == (n_alone if fused else 2 * n_alone)


def test_sample_together_mixed_settings_and_chunks(
    tok: SharedTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ngram_population, "CHUNK_AGENTS", 2)
    models = population(tok, 3, n_agents=9)
    settings = [{"temperature": 0.5 + 0.25 * (a % 3), "max_tokens": 5 + a} for a in range(9)]

    def reqs() -> list[SpeechRequest]:
        base = requests(9, 8)
        return [dataclasses.replace(r, **s) for r, s in zip(base, settings, strict=True)]

    alone = [m.sample(r) for m, r in zip(models, reqs(), strict=True)]
    assert sample_many(models, reqs()) == alone


def test_sample_together_falls_back_for_mixed_orders(tok: SharedTokenizer) -> None:
    models = population(tok, 2, 3) + population(tok, 3, 3)
    alone = [m.sample(r) for m, r in zip(models, requests(6, 3, top_p=0.9), strict=True)]
    assert NGramLM.sample_together(models, requests(6, 3, top_p=0.9)) == alone


def assert_same_model(a: NGramLM, b: NGramLM) -> None:
    np.testing.assert_array_equal(a._grams, b._grams)
    np.testing.assert_array_equal(a._counts, b._counts)
    for field in dataclasses.fields(a._tables):
        x, y = getattr(a._tables, field.name), getattr(b._tables, field.name)
        xs, ys = (x, y) if isinstance(x, list) else ([x], [y])
        assert len(xs) == len(ys)
        for u, w in zip(xs, ys, strict=True):
            np.testing.assert_array_equal(u, w)


@pytest.mark.parametrize("order", [1, 3, 4])
def test_update_together_gives_the_same_tables(tok: SharedTokenizer, order: int) -> None:
    one, many = population(tok, order), population(tok, order)
    for m, n in zip(one, many, strict=True):
        m.memory = n.memory = 0.0 if m is one[0] else 0.02  # old counts fade below MIN_COUNT
    rounds = [[corpus(a % 4 * 3, seed=50 * r + a) for a in range(len(one))] for r in range(3)]
    for texts in rounds:
        for m, t in zip(one, texts, strict=True):
            m.update(t)
        update_many(many, texts)
    for m, n in zip(one, many, strict=True):
        assert_same_model(m, n)
    assert len(one[0]._grams) == 0 and len(one[1]._grams) > 0  # no texts vs texts


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_score_together_gives_the_same_numbers(tok: SharedTokenizer, order: int) -> None:
    models = population(tok, order)
    held_out = corpus(20, seed=77) + ["", "zzz ✓ unseen"]
    texts = [held_out if a % 2 else held_out[a:] for a in range(len(models))]
    alone = [m.score(t) for m, t in zip(models, texts, strict=True)]
    together = score_many(models, texts)
    for (la, na), (lt, nt) in zip(alone, together, strict=True):
        np.testing.assert_array_equal(lt, la)
        np.testing.assert_array_equal(nt, na)


def test_update_and_score_together_fall_back_for_mixed_orders(tok: SharedTokenizer) -> None:
    one, many = population(tok, 2, 2) + population(tok, 4, 2), population(tok, 2, 2)
    many += population(tok, 4, 2)
    texts = [corpus(4, seed=a) for a in range(4)]
    for m, t in zip(one, texts, strict=True):
        m.update(t)
    update_many(many, texts)
    for m, n in zip(one, many, strict=True):
        assert_same_model(m, n)
    got = score_many(many, texts)
    for m, t, (loglik, ntokens) in zip(one, texts, got, strict=True):
        want = m.score(t)
        np.testing.assert_array_equal(loglik, want[0])
        np.testing.assert_array_equal(ntokens, want[1])


def test_distinct_tables_groups_clones() -> None:
    tok = SharedTokenizer.train(corpus(100, 3), vocab_size=200)
    ancestor = NGramLM(tok, order=3)
    ancestor.fit(corpus(50, 4))
    other = NGramLM(tok, order=3)
    other.fit(corpus(50, 5))
    models = [ancestor.clone(), other, ancestor.clone(), ancestor, other.clone()]
    firsts, which = ngram_population.distinct_tables(models)
    assert len(firsts) == 2
    assert which.tolist() == [0, 1, 0, 0, 1]


@pytest.mark.parametrize("order", [2, 3, 4])
def test_compiled_draws_equal_per_agent_draws_on_clones_and_many_texts(
    tok: SharedTokenizer, order: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clones of one ancestor and agents of their own, hundreds of texts each: the compiled
    default-sampling kernel draws every token the per-agent code draws."""
    ancestor = NGramLM(tok, order=order)
    ancestor.fit(corpus(400, seed=21))
    models = [ancestor.clone() for _ in range(3)]
    for a in range(3):
        own = NGramLM(tok, order=order, memory=0.5)
        own.fit(corpus(150 + 50 * a, seed=30 + a))
        models.insert(2 * a, own)
    sizes = [120, 0, 200, 80, 150, 60]

    def reqs() -> list[SpeechRequest]:
        return [SpeechRequest(n, rng=np.random.default_rng([7, a])) for a, n in enumerate(sizes)]

    calls = []
    kernel = ngram_population.SlotCache.draw
    monkeypatch.setattr(
        ngram_population.SlotCache, "draw", lambda *a: calls.append(1) or kernel(*a)
    )
    alone = [m.sample(r) for m, r in zip(models, reqs(), strict=True)]
    assert sample_many(models, reqs()) == alone
    assert calls  # the compiled path drew them
    assert len({t for texts in alone for t in texts}) > 300  # varied texts, not one repeated


def test_compiled_scores_equal_numpy_scores_for_clones(tok: SharedTokenizer) -> None:
    ancestor = NGramLM(tok, order=3)
    ancestor.fit(corpus(300, seed=40))
    models = [ancestor.clone() for _ in range(4)]
    texts = [corpus(60, seed=41 + a) for a in range(4)]
    alone = [m.score(t) for m, t in zip(models, texts, strict=True)]
    for (la, na), (lt, nt) in zip(alone, score_many(models, texts), strict=True):
        np.testing.assert_array_equal(lt, la)
        np.testing.assert_array_equal(nt, na)


def test_chunks_count_distinct_tables_for_the_compiled_path(
    tok: SharedTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ngram_population, "CHUNK_AGENTS", 2)
    monkeypatch.setattr(ngram_population, "SHARED_CHUNK_AGENTS", 4)
    ancestor = population(tok, 2, 1)[0]
    own = population(tok, 2, 3)
    models = [ancestor.clone() for _ in range(6)] + own
    members = list(range(len(models)))
    chunks = ngram_population._chunks(models, members, shared=True)
    assert chunks == [[0, 1, 2, 3], [4, 5, 6], [7, 8]]  # 4 agents at most, 2 tables at most
    assert ngram_population._chunks(models, members, shared=False)[0] == [0, 1]


def test_compiled_redraw_equals_the_numpy_redraw_and_flags_rows_with_no_allowed_token(
    tok: SharedTokenizer,
) -> None:
    """The compiled redraw picks the token ``_redraw_valid`` picks from the same uniforms;
    a row whose state allows no token comes back as -1 (the caller's fallback)."""
    models = population(tok, 3, n_agents=4)
    drawer = ngram_population._Drawer(models, 1.0, 1.0)
    rng = np.random.default_rng(3)
    n = 400
    contexts = rng.choice(tok.encode_batch(corpus(50, seed=4))[0], size=(n, 2)).astype(np.int64)
    row_agent = np.sort(rng.integers(0, 4, n))
    agent_rows = np.searchsorted(row_agent, np.arange(5))
    drawer.draw(contexts, row_agent, agent_rows, rng.random(n))
    states = rng.integers(0, 3, n).astype(np.int8)  # mid-character states: few tokens allowed
    u = rng.random(n)
    which = np.arange(n)
    allowed = tok.utf8.allowed(states)
    got = ngram_population.redraw_default(
        contexts, drawer.table_of[row_agent], u, allowed, 3, tok.vocab_size, drawer.flat,
        drawer.pop.unigram_sorted, drawer.dense.weights, drawer.dense.cum, drawer.pop.rank,
    )  # fmt: skip
    probs = drawer.dense_probs(which)
    want = np.concatenate(
        [
            ngram_population.pick_by_cdf(
                models[a]._valid_probs(contexts[lo:hi], states[lo:hi], probs[lo:hi], 1.0), u[lo:hi]
            )
            for a, (lo, hi) in zip(
                np.unique(row_agent), ngram_population.runs(row_agent), strict=True
            )
        ]
    )
    np.testing.assert_array_equal(got, want)
    assert len(set(got.tolist())) > 20 and allowed[which, got].all()
    nothing = np.zeros_like(allowed)
    args = (drawer.flat, drawer.pop.unigram_sorted, drawer.dense.weights, drawer.dense.cum)
    flagged = ngram_population.redraw_default(
        contexts, drawer.table_of[row_agent], u, nothing, 3, tok.vocab_size, *args, drawer.pop.rank
    )
    assert (flagged == -1).all()


def test_compiled_kernels_give_the_same_draws_and_scores_on_one_thread_or_all(
    tok: SharedTokenizer,
) -> None:
    """The parallel kernels split independent rows between threads: no float moves."""
    import numba

    models = population(tok, 3, n_agents=6)
    texts = [corpus(40, seed=50 + a) for a in range(6)]

    def run() -> tuple:
        said = sample_many(
            models, [SpeechRequest(30, rng=np.random.default_rng([9, a])) for a in range(6)]
        )
        return said, score_many(models, texts)

    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        alone = run()
    finally:
        numba.set_num_threads(threads)
    together = run()
    assert together[0] == alone[0] and sum(map(len, alone[0])) == 180
    for (la, na), (lt, nt) in zip(alone[1], together[1], strict=True):
        np.testing.assert_array_equal(lt, la)
        np.testing.assert_array_equal(nt, na)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_a_slot_cache_kept_over_steps_draws_what_a_fresh_one_draws(
    tok: SharedTokenizer, order: int
) -> None:
    """Distributions built in earlier steps (and buffers grown on the way) give every row
    the draw a cache built for that step alone gives, for clones and agents of their own."""
    from society.lm.ngram_fused import SlotCache

    ancestor = NGramLM(tok, order=order)
    ancestor.fit(corpus(200, seed=60))
    models = [ancestor.clone(), *population(tok, order, n_agents=4), ancestor.clone()]
    drawer = ngram_population._Drawer(models, 1.0, 1.0)
    kept = SlotCache(len(drawer.slots.slot_of))
    rng = np.random.default_rng(5)
    grown = []
    for step in range(12):
        per_agent = rng.integers(0, 40, len(models))
        row_agent = np.repeat(np.arange(len(models)), per_agent)
        agent_rows = np.concatenate([[0], np.cumsum(per_agent)])
        # few distinct contexts early, more later: some slots seen before, some new
        high = 8 if step < 4 else tok.vocab_size
        contexts = rng.integers(0, high, (len(row_agent), max(order - 1, 0)))
        u = rng.random(len(row_agent))
        args = (
            contexts, drawer.table_of[row_agent], agent_rows, u, drawer.order, drawer.v,
            drawer.flat, drawer.pop.unigram_sorted, drawer.dense.weights, drawer.dense.cum,
        )  # fmt: skip
        fresh = SlotCache(len(kept.slot_of))  # built for this step alone
        np.testing.assert_array_equal(kept.draw(*args), fresh.draw(*args))
        grown.append(len(kept.share))
    assert kept.n_slots > 0
    if order > 1:
        assert len(set(grown)) > 2  # the entry buffers grew more than once
