"""How well each agent's model predicts held-out real text."""

from __future__ import annotations

from society.lm.base import perplexity, score_many
from society.metrics.record import RoundRecord
from society.metrics.registry import Columns, Measure, Results, Rows


class HeldoutPerplexity(Measure):
    """Perplexity of each agent's model on the run's held-out texts (``setup.heldout``)."""

    name = "perplexity"
    scores_every_model = True
    columns = Columns(agent=("perplexity",))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``perplexity(model.score(heldout))`` per agent, all models at once (``score_many``)."""
        heldout = list(self.setup.heldout)
        scores = score_many([a.model for a in record.agents], [heldout] * len(record.agents))
        return Rows(agent=[{"perplexity": perplexity(*score)} for score in scores])
