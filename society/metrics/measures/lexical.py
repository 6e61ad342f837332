"""What words each agent uses: diversity, and how its words compare with the real corpus.

Both measures read the round's shared population counts (``RoundRecord.counts``) and are
vectorised across agents; ``doc_metrics`` and ``lexicon_row`` are the per-agent reference
definitions they equal bit for bit (``tests/test_measures_lexical.py``). Only the Zipf fit
(one bounded scalar optimisation per agent) and the grammar check loop over agents.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from society.metrics.counts import PopulationCounts, index_of, ngram_keys
from society.metrics.distribution import coverage, tail_mass, zipf_exponent
from society.metrics.novelty import neologisms, ngrams, novel_fraction
from society.metrics.record import AgentRecord, RoundRecord
from society.metrics.reference import NOVEL_ORDERS, Reference
from society.metrics.registry import Columns, Measure, Results, Rows, Setup

#: N-grams looked up per block by ``NovelGrams.mask`` (bounds its transient memory).
MASK_BLOCK = 1 << 20

TEXT_COLUMNS = (
    "distinct_1",
    "distinct_2",
    "distinct_3",
    "entropy",
    "vocab_size",
    "ttr",
    "hapax_ratio",
    "mean_length",
)


class TextDiversity(Measure):
    """Distinct-n, entropy, vocabulary, type-token and hapax ratios, length (``doc_metrics``)."""

    name = "text"
    columns = Columns(agent=TEXT_COLUMNS)

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``text.doc_metrics`` of each agent's tokenised texts, for all agents at once."""
        return Rows(agent=text_rows(record.counts))


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    """``num / den`` where ``den`` > 0, else ``empty``."""
    out = np.full(len(den), empty)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _rows(columns: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Column arrays -> one dict of Python floats per agent."""
    lists = {name: values.tolist() for name, values in columns.items()}
    return [dict(zip(lists, row, strict=True)) for row in zip(*lists.values(), strict=True)]


def text_rows(counts: PopulationCounts) -> list[dict[str, Any]]:
    """``text.doc_metrics`` of every agent, from the population counts (same numbers).

    Args:
        counts: the round's population counts.

    Returns:
        One ``TEXT_COLUMNS`` row per agent.
    """
    tokens, types = counts.tokens().astype(float), counts.types().astype(float)
    hapax = np.bincount(counts.entry_row, counts.entry_count == 1, counts.agents)
    distinct = _ratio(types, tokens, 0.0)
    return _rows(
        {
            "distinct_1": distinct,
            "distinct_2": _ratio(counts.unique(2).astype(float), counts.total(2), 0.0),
            "distinct_3": _ratio(counts.unique(3).astype(float), counts.total(3), 0.0),
            "entropy": counts.entropy(),
            "vocab_size": types,
            "ttr": distinct,
            "hapax_ratio": _ratio(hapax, types, 0.0),
            "mean_length": _ratio(tokens, counts.texts.astype(float), 0.0),
        }
    )


def word_counts(agent: AgentRecord) -> Counter[str]:
    """How often the agent said each word this round."""
    return Counter(w for tokens in agent.docs for w in tokens)


def lexicon_row(agent: AgentRecord, ref: Reference) -> dict[str, Any]:
    """The ``Lexicon`` columns of one agent.

    Args:
        agent: the agent's round.
        ref: the real corpus.

    Returns:
        Unique n-grams, Zipf exponent, tail mass, coverage, novel n-gram shares,
        neologism share and grammatical share (NaN without a grammar or texts).
    """
    doc = agent.docs
    counts = word_counts(agent)
    total = sum(counts.values())
    new_words = neologisms(counts, ref.vocabulary)
    grams = {n: list(ngrams(doc, n)) for n in (1, 2, 3)}
    out: dict[str, Any] = {f"unique_{n}": float(len(set(grams[n]))) for n in (1, 2, 3)}
    out |= {
        "zipf": zipf_exponent(counts),
        "tail_mass": tail_mass(counts, ref.tail),
        "coverage": coverage(counts, ref.heldout_vocabulary),
        **{f"novel_{n}": novel_fraction(grams[n], ref.ngrams[n]) for n in NOVEL_ORDERS},
        "neologism_share": sum(new_words.values()) / total if total else float("nan"),
        "grammatical": (
            ref.grammar.grammatical_share(agent.texts)
            if ref.grammar is not None and agent.texts
            else float("nan")
        ),
    }
    return out


class NovelGrams:
    """Which of a round's n-grams the real corpus never has, as integer keys, not tuples.

    The real corpus's n-grams are folded into int64 keys over its sorted vocabulary once
    per run and hashed (a ``pandas.Index``); each round's n-grams are keyed the same way
    (one with a word outside the vocabulary is novel) and looked up in that hash.
    Vocabularies too large for int64 keys fall back to a set lookup per distinct n-gram.
    Word sets of the real corpus (its tail, its held-out vocabulary) are looked up the same
    way, through each word's position in the vocabulary.

    Args:
        ref: the real corpus.
    """

    def __init__(self, ref: Reference) -> None:
        self.ref = ref
        self.index = index_of(ref.vocabulary)
        self.keys: dict[int, pd.Index | None] = {}
        self._flags: dict[int, tuple[frozenset[str], np.ndarray | None]] = {}

    def seen(self, n: int) -> pd.Index | None:
        """The real corpus's distinct n-gram keys, hashed (None if they overflow)."""
        if n not in self.keys:
            grams = self.ref.ngrams[n]
            flat = np.fromiter((w for g in grams for w in g), dtype=object, count=n * len(grams))
            ids = self.index.get_indexer(flat).reshape(-1, n)
            keys = ngram_keys(ids, max(len(self.index), 1))
            self.keys[n] = None if keys is None else pd.Index(np.unique(keys))
        return self.keys[n]

    def vocabulary_ids(self, counts: PopulationCounts) -> np.ndarray:
        """Each word of the round's position in the real vocabulary (-1: not in it)."""
        return self.index.get_indexer(counts.words)

    def word_mask(
        self, counts: PopulationCounts, words: frozenset[str], ids: np.ndarray
    ) -> np.ndarray:
        """``counts.word_mask(words)``, the same bools, from ``vocabulary_ids`` (``ids``).

        ``words`` must be a set the run keeps (it is remembered by identity); one with
        words outside the vocabulary is looked up by ``counts.word_mask``.
        """
        if id(words) not in self._flags:
            inside = words <= self.ref.vocabulary
            flags = np.asarray(self.index.isin(list(words)), dtype=bool) if inside else None
            self._flags[id(words)] = (words, flags)  # holds ``words``: its id stays its own
        flags = self._flags[id(words)][1]
        if flags is None:
            return counts.word_mask(words)
        return (ids >= 0) & flags[ids]

    def mask(self, counts: PopulationCounts, n: int, ids: np.ndarray | None = None) -> np.ndarray:
        """Per column of ``counts.counts[n]``: is the n-gram absent from the real corpus.

        ``ids``: ``vocabulary_ids(counts)`` if already computed.
        """
        seen = self.seen(n)
        if seen is None:
            real = self.ref.ngrams[n]
            names = counts.names(n)
            return np.fromiter((g not in real for g in names), dtype=bool, count=len(names))
        grams = counts.grams[n]
        out = np.ones(len(grams), dtype=bool)
        if not len(counts.words) or not len(seen):
            return out
        word_ids = self.vocabulary_ids(counts) if ids is None else ids
        base = max(len(self.index), 1)
        # Block by block: at 10,000 agents a round has ~9M distinct trigrams, whose ids,
        # keys and lookups at once took ~0.7 GB.
        for lo in range(0, len(grams), MASK_BLOCK):
            ids_ = word_ids[grams[lo : lo + MASK_BLOCK]]
            outside = (ids_ < 0).any(axis=1)
            keys = ngram_keys(np.where(ids_ < 0, 0, ids_), base)
            out[lo : lo + MASK_BLOCK] = outside | (seen.get_indexer(keys) < 0)
        return out


def lexicon_columns(
    counts: PopulationCounts, ref: Reference, novel: NovelGrams
) -> dict[str, np.ndarray]:
    """The ``Lexicon`` columns of every agent but ``grammatical`` (same as ``lexicon_row``).

    Args:
        counts: the round's population counts.
        ref: the real corpus.
        novel: the real corpus's n-grams as keys.

    Returns:
        One array per column, in agent order.
    """
    tokens = counts.tokens().astype(float)
    nan = float("nan")
    out = {f"unique_{n}": counts.unique(n).astype(float) for n in (1, 2, 3)}
    out["zipf"] = counts.zipf()
    ids = novel.vocabulary_ids(counts)
    tail = novel.word_mask(counts, ref.tail, ids)
    out["tail_mass"] = _ratio(counts.per_agent(tail), tokens, nan)
    vocabulary = len(ref.heldout_vocabulary)
    used = counts.types_in(novel.word_mask(counts, ref.heldout_vocabulary, ids))
    out["coverage"] = used / vocabulary if vocabulary else np.full(counts.agents, nan)
    for n in NOVEL_ORDERS:
        novel_count = counts.counts[n] @ novel.mask(counts, n, ids).astype(float)
        out[f"novel_{n}"] = _ratio(novel_count, counts.total(n), nan)
    outside = ids < 0  # not in the real vocabulary
    out["neologism_share"] = _ratio(counts.per_agent(outside), tokens, nan)
    return out


class Lexicon(Measure):
    """Each agent's words against the real corpus (``setup.reference``)."""

    name = "lexicon"
    columns = Columns(
        agent=(
            "unique_1",
            "unique_2",
            "unique_3",
            "zipf",
            "tail_mass",
            "coverage",
            *(f"novel_{n}" for n in NOVEL_ORDERS),
            "neologism_share",
            "grammatical",
        )
    )

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.novel = NovelGrams(setup.reference)

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``lexicon_row`` of every agent, for all agents at once (``lexicon_columns``)."""
        ref = self.setup.reference
        columns = lexicon_columns(record.counts, ref, self.novel)
        nan = float("nan")
        columns["grammatical"] = np.array(
            [
                ref.grammar.grammatical_share(a.texts)
                if ref.grammar is not None and a.texts
                else nan
                for a in record.agents
            ],
            dtype=float,
        )
        return Rows(agent=_rows({name: columns[name] for name in self.columns.agent}))
