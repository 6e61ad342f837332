"""Neologisms: words outside the real corpus, when they appear and how they spread."""

from __future__ import annotations

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
        """Feed every agent's neologism counts to the tracker."""
        vocabulary = self.setup.reference.vocabulary
        usage = [
            (a.id, a.node, a.community, neologisms(word_counts(a), vocabulary))
            for a in record.agents
        ]
        return Rows(round=self.tracker.update(record.round, usage, record.graph))

    def tables(self) -> dict[str, pd.DataFrame]:
        """``innovations``: one row per (round, neologism) tracked."""
        return {"innovations": self.tracker.table()}
