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
from society.metrics.registry import Columns, Measure, Results, Rows, Setup
from society.metrics.relabel import NullPlan, null_plan, relabelled_jsd
from society.metrics.side import Job

JSD = ("jsd_unigram", "jsd_bigram")
EXCESS = tuple(f"{column}_excess" for column in JSD)
DIVERGENCES = (*JSD, PAIR_COLUMN, *EXCESS)
PARTS = ("within", "between", "index")
EXCESS_PURPOSE = 5
"""Seeds the relabellings of the excess columns: ``(seed, round, EXCESS_PURPOSE)``."""


class PairDivergence(Measure):
    """Each compared pair: ids, same community or not, unigram and bigram JSD, their excess.

    ``<jsd>_excess`` is the JSD minus its mean over ``divergence_null`` random
    relabellings of the two agents' utterances (``society.metrics.relabel``): about 0 for
    agents that speak one language, whatever the sample sizes.
    """

    name = "jsd"
    columns = Columns(pair=("agent_i", "agent_j", "same_community", *JSD, *EXCESS))

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self._null: tuple[RoundRecord, NullPlan, Job | None] | None = None

    def plan(self, record: RoundRecord) -> NullPlan:
        """The round's relabelling null (``relabel.null_plan``) of unigrams and bigrams."""
        config = self.setup.config
        rng = np.random.default_rng([self.setup.seed, record.round, EXCESS_PURPOSE])
        return null_plan(
            record.null_texts(),
            record.pairs,
            (1, 2),
            config.divergence_null,
            config.divergence_null_budget,
            rng,
        )

    def prepare(self, record: RoundRecord) -> None:
        """Send the round's relabellings to the side process, if there is one."""
        self._null = None
        if record.pairs is not None and self.setup.side.enabled:
            plan = self.plan(record)
            job = None if plan.call is None else self.setup.side.submit(relabelled_jsd, *plan.call)
            self._null = (record, plan, job)

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``divergence.pair_table`` of the record's pairs, and the excess columns.

        ``<jsd>_excess`` is the observed JSD minus its mean under relabelling of each
        pair's texts (``relabel.null_means``).
        """
        prepared, self._null = self._null, None
        if record.pairs is None:
            return Rows()
        shared = (record.counts.counts[1], record.counts.counts[2])
        table = pair_table(record.ids, record.communities, record.docs, record.pairs, shared)
        if prepared is not None and prepared[0] is record:
            _, plan, job = prepared
            nulls = plan.fit(None if job is None else job.result())
        else:
            plan = self.plan(record)
            nulls = plan.fit(None if plan.call is None else relabelled_jsd(*plan.call))
        for column, raw, null in zip(EXCESS, JSD, nulls, strict=True):
            table[column] = table[raw].to_numpy() - null
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
