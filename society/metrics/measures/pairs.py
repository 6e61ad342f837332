"""How different two agents' languages are: n-gram JSD, model cross-entropy, their summary."""

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

DIVERGENCES = ("jsd_unigram", "jsd_bigram", PAIR_COLUMN)
PARTS = ("within", "between", "index")


class PairDivergence(Measure):
    """Each compared pair: the two ids, same community or not, unigram and bigram JSD."""

    name = "jsd"
    columns = Columns(pair=("agent_i", "agent_j", "same_community", "jsd_unigram", "jsd_bigram"))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``divergence.pair_table`` of the record's pairs."""
        if record.pairs is None:
            return Rows()
        return Rows(pair=pair_table(record.ids, record.communities, record.docs, record.pairs))


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
