"""The measurement suite: which measures a society runs, in which order.

Each measure reads the round's record (and what the measures before it found) and returns
the columns it declares; the tables' columns are these declarations in this order, so
``AGENT_COLUMNS``, ``PAIR_COLUMNS`` and ``ROUND_COLUMNS`` are derived, never listed by
hand. Later measures may read earlier ones: the means read agent columns, the divergence
summary and the dialects read pair columns, the quantiles read the ancestor's
per-utterance perplexities.

Expensive measures (self-BLEU, the classifier, embeddings) run on round 0, the last round
and every ``metrics.expensive_every`` rounds, on seeded subsamples; every random choice a
measure makes comes from a generator derived from the seed and the round, so measuring
never changes what the society does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from society.metrics.measures.ancestor import AncestorPerplexity, AncestorQuantiles
from society.metrics.measures.dialect import Dialects
from society.metrics.measures.expensive import RealVsGenerated, SelfBleu, Semantic
from society.metrics.measures.identity import Identity, Kept
from society.metrics.measures.innovation import Innovations
from society.metrics.measures.lexical import Lexicon, TextDiversity
from society.metrics.measures.means import BasicMeans, SuiteMeans, TailMassRatio
from society.metrics.measures.pairs import CrossEntropy, DivergenceSummary, PairDivergence
from society.metrics.measures.perplexity import HeldoutPerplexity
from society.metrics.registry import Registry, Setup, table_columns
from society.metrics.side import SideProcess

if TYPE_CHECKING:
    from society.config import MetricsConfig
    from society.corpora import Corpus
    from society.metrics.record import Scorer

MEASURES = (
    Identity,
    HeldoutPerplexity,
    TextDiversity,
    Kept,
    Lexicon,
    AncestorPerplexity,
    SelfBleu,
    RealVsGenerated,
    Semantic,
    PairDivergence,
    CrossEntropy,
    BasicMeans,
    DivergenceSummary,
    SuiteMeans,
    TailMassRatio,
    Dialects,
    AncestorQuantiles,
    Innovations,
)
AGENT_COLUMNS = table_columns(MEASURES, "agent")
PAIR_COLUMNS = table_columns(MEASURES, "pair")
ROUND_COLUMNS = table_columns(MEASURES, "round")


SIDE_PROCESS_AGENTS = (100, 5000)
"""``[metrics] side_process`` (unset) computes in a second process from the first to below
the second of these sizes: below, a run is short and a worker's start (a second or two of
CPU) would not pay; from 5,000 agents the society's memory is the limit and the worker's
(~0.5 GB: its imports and inputs) would add to it, for a few percent of a round."""


def build_suite(
    config: MetricsConfig, corpus: Corpus, ancestor: Scorer, seed: int, agents: int = 0
) -> Registry:
    """The registry of ``MEASURES`` for one run.

    Args:
        config: the scenario's ``[metrics]`` table.
        corpus: the run's real data (the reference the measures compare against).
        ancestor: the generation-0 model (scores agents' texts).
        seed: the scenario seed.
        agents: the society's size (decides an unset ``side_process``).

    Returns:
        A registry with fresh per-run state.
    """
    side = config.side_process
    if side is None:
        side = SIDE_PROCESS_AGENTS[0] <= agents < SIDE_PROCESS_AGENTS[1]
    return Registry(Setup.for_run(config, corpus, ancestor, seed, SideProcess(side)), MEASURES)
