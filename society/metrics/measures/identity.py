"""Who was measured: the record's own facts, reported as they are."""

from __future__ import annotations

from society.metrics.record import RoundRecord
from society.metrics.registry import Columns, Measure, Results, Rows


class Identity(Measure):
    """Each agent's node and community; the round and how many agents it had."""

    name = "identity"
    columns = Columns(agent=("node", "community"), round=("round", "agents"))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """The record's node and community per agent, its round and size."""
        return Rows(
            agent=[{"node": a.node, "community": a.community} for a in record.agents],
            round={"round": record.round, "agents": len(record.agents)},
        )


class Kept(Measure):
    """How many heard texts each agent kept this round (after curation)."""

    name = "kept"
    columns = Columns(agent=("kept",))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """The record's kept count per agent."""
        return Rows(agent=[{"kept": a.kept} for a in record.agents])
