"""How different two agents' languages are: n-gram JSD, model cross-entropy, their summary.

The n-gram JSD has a sampling floor (two agents speaking one language differ by chance),
so each JSD column has an ``_excess`` twin, the part beyond random relabelling of the two
agents' utterances. ``cross_entropy_div`` has none: it compares two models on the same
texts (``model_based``), so relabelling the texts leaves its expected value at 0 (the
difference of two means of one per-token quantity over a random split), and identical
models give exactly 0. It is already centred; the dialects use it as it is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from society.metrics.divergence import pair_table, within_between
from society.metrics.model_based import (
    PAIR_COLUMN,
    PURPOSE,
    chosen_agents,
    cross_entropy_matrix,
    symmetric_divergence,
)
from society.metrics.record import RoundRecord
from society.metrics.registry import Columns, Measure, Results, Rows
from society.metrics.relabel import null_means

JSD = ("jsd_unigram", "jsd_bigram")
EXCESS = tuple(f"{column}_excess" for column in JSD)
DIVERGENCES = (*JSD, PAIR_COLUMN, *EXCESS)
PARTS = ("within", "between", "index")
EXCESS_PURPOSE = 5
"""Seeds the relabellings of the excess columns: ``(seed, round, EXCESS_PURPOSE)``."""


def excess(
    docs: list, pairs: np.ndarray, raw: list[np.ndarray], draws: int, budget: int, rng
) -> list[np.ndarray]:
    """Observed JSD minus its mean under relabelling, unigram and bigram (``relabel``).

    Args:
        docs: every agent's tokenised texts.
        pairs: ``(k, 2)`` positions of the pairs.
        raw: the observed unigram and bigram JSD of each pair.
        draws: relabellings per pair wanted (0: NaN).
        budget: most relabellings a round (``relabel.null_means``).
        rng: the measure's own generator.

    Returns:
        The two excess vectors.
    """
    nulls = null_means(docs, pairs, (1, 2), draws, budget, rng)
    return [np.asarray(observed) - null for observed, null in zip(raw, nulls, strict=True)]


class PairDivergence(Measure):
    """Each compared pair: ids, same community or not, unigram and bigram JSD, their excess.

    ``<jsd>_excess`` is the JSD minus its mean over ``divergence_null`` random
    relabellings of the two agents' utterances (``society.metrics.relabel``): about 0 for
    agents that speak one language, whatever the sample sizes.
    """

    name = "jsd"
    columns = Columns(pair=("agent_i", "agent_j", "same_community", *JSD, *EXCESS))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``divergence.pair_table`` of the record's pairs, and the excess columns."""
        if record.pairs is None:
            return Rows()
        config = self.setup.config
        shared = (record.counts.counts[1], record.counts.counts[2])
        table = pair_table(record.ids, record.communities, record.docs, record.pairs, shared)
        rng = np.random.default_rng([self.setup.seed, record.round, EXCESS_PURPOSE])
        raw = [table[column].to_numpy() for column in JSD]
        values = excess(
            record.docs,
            record.pairs,
            raw,
            config.divergence_null,
            config.divergence_null_budget,
            rng,
        )
        for column, value in zip(EXCESS, values, strict=True):
            table[column] = value
        return Rows(pair=table)


class CrossEntropy(Measure):
    """``cross_entropy_div`` of the pairs among up to ``cross_agents`` seeded agents.

    Each chosen agent contributes ``cross_texts`` seeded utterances; pairs with an agent
    not chosen are NaN (see ``model_based``).
    """

    name = "cross_entropy"
    columns = Columns(pair=(PAIR_COLUMN,))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """The symmetrised cross-entropy divergence of every compared pair."""
        if record.pairs is None:
            return Rows()
        config, seed = self.setup.config, self.setup.seed
        values = np.full(len(record.pairs), np.nan)
        chosen = chosen_agents(len(record.agents), config, record.round, seed)
        if chosen and len(record.pairs):
            texts = []
            for k in chosen:
                said = record.agents[k].texts
                rng = np.random.default_rng([seed, record.round, PURPOSE, record.agents[k].id])
                picks = rng.choice(
                    len(said), size=min(config.cross_texts, len(said)), replace=False
                )
                texts.append([said[p] for p in sorted(picks.tolist())])
            models = [record.agents[k].model for k in chosen]
            divergence = symmetric_divergence(cross_entropy_matrix(models, texts))
            row = np.full(len(record.agents), -1)
            row[chosen] = np.arange(len(chosen))
            i, j = row[record.pairs[:, 0]], row[record.pairs[:, 1]]
            known = (i >= 0) & (j >= 0)
            values[known] = divergence[i[known], j[known]]
        return Rows(pair=pd.DataFrame({PAIR_COLUMN: values}))


class DivergenceSummary(Measure):
    """Mean divergence within and between communities, and the separation index."""

    name = "divergence_summary"
    columns = Columns(round=tuple(f"{d}_{part}" for d in DIVERGENCES for part in PARTS))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``divergence.within_between`` of each divergence column (NaN without pairs)."""
        pairs = before.pairs
        out = {}
        for column in DIVERGENCES:
            summary = (
                within_between(pairs, column)
                if pairs is not None and len(pairs) and column in pairs
                else {"within": np.nan, "between": np.nan, "index": np.nan}
            )
            for part in PARTS:
                out[f"{column}_{part}"] = float(summary[part])
        return Rows(round=out)
