"""How the generation-0 model (the ancestor) judges what each agent says now."""

from __future__ import annotations

from society.metrics.model_based import QUANTILE_COLUMNS, ancestor_quantiles, grouped_perplexities
from society.metrics.record import RoundRecord
from society.metrics.registry import Columns, Measure, Results, Rows

UTTERANCES = "ancestor_ppl"
"""The name of the per-utterance result (``samples.jsonl``'s ``ancestor_ppl`` field)."""


class AncestorPerplexity(Measure):
    """The ancestor's perplexity of each agent's first ``ancestor_texts`` utterances.

    Returns the corpus perplexity per agent and, as the per-utterance result
    ``UTTERANCES``, each scored utterance's own perplexity (None where it has no token).
    """

    name = "ancestor"
    columns = Columns(agent=("ancestor_ppl",))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """Score every agent's first texts with ``setup.ancestor``."""
        limit = self.setup.config.ancestor_texts
        scored = grouped_perplexities(self.setup.ancestor, [a.texts[:limit] for a in record.agents])
        return Rows(
            agent=[{"ancestor_ppl": corpus} for corpus, _ in scored],
            utterances={UTTERANCES: [each for _, each in scored]},
        )


class AncestorQuantiles(Measure):
    """Quantiles of the ancestor's per-utterance perplexities (needs ``AncestorPerplexity``)."""

    name = "ancestor_quantiles"
    columns = Columns(agent=QUANTILE_COLUMNS)

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``model_based.ancestor_quantiles`` of each agent's per-utterance values."""
        values = before.utterances(UTTERANCES) or [()] * len(record.agents)
        return Rows(agent=[ancestor_quantiles(each) for each in values])
