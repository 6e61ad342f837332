"""What words each agent uses: diversity, and how its words compare with the real corpus."""

from __future__ import annotations

from collections import Counter
from typing import Any

from society.metrics.distribution import coverage, tail_mass, zipf_exponent
from society.metrics.novelty import neologisms, ngrams, novel_fraction
from society.metrics.record import AgentRecord, RoundRecord
from society.metrics.reference import NOVEL_ORDERS, Reference
from society.metrics.registry import Columns, Measure, Results, Rows
from society.metrics.text import doc_metrics

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
        """``text.doc_metrics`` of each agent's tokenised texts."""
        return Rows(agent=[doc_metrics(a.docs) for a in record.agents])


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

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``lexicon_row`` of every agent."""
        return Rows(agent=[lexicon_row(a, self.setup.reference) for a in record.agents])
