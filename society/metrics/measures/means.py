"""Round columns that average agent columns measured before them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from society.metrics.measures.ancestor import AncestorPerplexity
from society.metrics.measures.expensive import RealVsGenerated, SelfBleu, Semantic
from society.metrics.measures.lexical import TEXT_COLUMNS, Lexicon
from society.metrics.record import RoundRecord
from society.metrics.registry import Columns, Measure, Results, Rows, Setup


def nan_mean(values: Sequence[float]) -> float:
    """``np.nanmean`` (NaN for no values)."""
    return float(np.nanmean(values)) if values else float("nan")


def finite_mean(values: Sequence[float | None]) -> float:
    """Mean of the finite values, Nones dropped (NaN when none is left)."""
    array = np.asarray([v for v in values if v is not None], dtype=float)
    array = array[np.isfinite(array)]
    return float(array.mean()) if len(array) else float("nan")


class BasicMeans(Measure):
    """Population means of held-out perplexity and the text columns (``nan_mean``)."""

    name = "basic_means"
    columns = Columns(round=("perplexity", *TEXT_COLUMNS))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``nan_mean`` of each agent column of the same name."""
        return Rows(round={c: nan_mean(before.column(c)) for c in self.columns.round})


class SuiteMeans(Measure):
    """Population means of the lexicon, ancestor and expensive columns (``finite_mean``)."""

    name = "suite_means"
    columns = Columns(
        round=tuple(
            c
            for measure in (Lexicon, AncestorPerplexity, SelfBleu, RealVsGenerated, Semantic)
            for c in measure.columns.agent
        )
    )

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``finite_mean`` of each agent column of the same name."""
        return Rows(round={c: finite_mean(before.column(c)) for c in self.columns.round})


class TailMassRatio(Measure):
    """Mean tail mass against the first measured round's (needs ``SuiteMeans``)."""

    name = "tail_mass_ratio"
    columns = Columns(round=("tail_mass_ratio",))

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.baseline: float | None = None

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """The round's mean tail mass over the first finite one (NaN before it)."""
        tail = before.round["tail_mass"]
        if self.baseline is None and np.isfinite(tail):
            self.baseline = tail
        ratio = tail / self.baseline if self.baseline else float("nan")
        return Rows(round={"tail_mass_ratio": ratio})
