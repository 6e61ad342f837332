"""Who was measured: the record's own facts, reported as they are."""

from __future__ import annotations

from society.metrics.record import RoundRecord
from society.metrics.registry import Columns, Measure, Results, Rows


class Identity(Measure):
    """Each agent's node, community and model; the round and how many agents it had."""

    name = "identity"
    columns = Columns(agent=("node", "community", "model"), round=("round", "agents"))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """The record's node, community and model label per agent, its round and size."""
        return Rows(
            agent=[
                {"node": a.node, "community": a.community, "model": a.model_label}
                for a in record.agents
            ],
            round={"round": record.round, "agents": len(record.agents)},
        )


class Kept(Measure):
    """How many heard texts each agent kept this round (after curation)."""

    name = "kept"
    columns = Columns(agent=("kept",))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """The record's kept count per agent."""
        return Rows(agent=[{"kept": a.kept} for a in record.agents])
