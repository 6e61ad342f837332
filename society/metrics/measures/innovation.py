"""Neologisms: words outside the real corpus, when they appear and how they spread."""

from __future__ import annotations

import numpy as np
import pandas as pd

from society.metrics.measures.lexical import word_counts
from society.metrics.novelty import InnovationTracker, neologisms
from society.metrics.record import RoundRecord
from society.metrics.registry import Columns, Measure, Results, Rows, Setup


class Innovations(Measure):
    """New, living and shared neologisms per round; their spread (``innovations`` table).

    The tracker (``novelty.InnovationTracker``) remembers each word's first speaker over
    the run.
    """

    name = "innovations"
    columns = Columns(round=("neologisms_new", "neologisms_alive", "neologisms_shared"))

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.tracker = InnovationTracker(setup.config.innovation_min_agents)

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """Feed every agent's neologism counts to the tracker (``update_counts``)."""
        counts = record.counts
        outside = np.flatnonzero(~counts.word_mask(self.setup.reference.vocabulary))
        agents = (record.ids, [a.node for a in record.agents], record.communities)
        neologism_counts = counts.counts[1][:, outside]
        return Rows(
            round=self.tracker.update_counts(
                record.round, agents, neologism_counts, counts.words[outside], record.graph
            )
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        """``innovations``: one row per (round, neologism) tracked."""
        return {"innovations": self.tracker.table()}


def reference_usage(record: RoundRecord, vocabulary: frozenset[str]) -> list[tuple]:
    """The per-agent ``InnovationTracker.update`` input (the reference the tests compare)."""
    return [
        (a.id, a.node, a.community, neologisms(word_counts(a), vocabulary)) for a in record.agents
    ]
