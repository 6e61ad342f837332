"""Hand-built round records, setups and fake models for calling measures without a Society."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from society.config import MetricsConfig
from society.corpora import Corpus
from society.metrics.record import AgentRecord, RoundRecord
from society.metrics.registry import Columns, Measure, Results, Rows, Setup

TRAIN = ["the cat sat on the mat", "the dog ran to the cat", "a bird sang in the tree"]
HELDOUT = ["the cat ran", "a dog sat on the tree", "the bird sat"]


class Flat:
    """A fake model: every word costs ``rate`` nats."""

    def __init__(self, rate: float = 1.0) -> None:
        self.rate = rate

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        tokens = np.array([len(t.split()) for t in texts], dtype=float)
        return -self.rate * tokens, tokens


def agent(
    id: int,  # noqa: A002 - as AgentRecord
    texts: Sequence[str],
    community: int = 0,
    node: int | None = None,
    model: Any = None,
    heard: int = 0,
    kept: int = 0,
    model_label: str = "",
) -> AgentRecord:
    """One agent's round (node = id unless given; a ``Flat(1.0)`` model unless given)."""
    return AgentRecord.of(
        id=id,
        node=id if node is None else node,
        community=community,
        texts=texts,
        heard=heard,
        kept=kept,
        model=model if model is not None else Flat(1.0),
        model_label=model_label,
    )


def record(
    agents: Sequence[AgentRecord],
    round_: int = 1,
    last: int = 9,
    graph: nx.Graph | None = None,
    pairs: str = "all",
) -> RoundRecord:
    """A round of ``agents`` (a complete graph on their nodes unless given)."""
    if graph is None:
        graph = nx.complete_graph([a.node for a in agents])
    return RoundRecord.of(round_, last, agents, graph, pairs)


def setup(
    train: Sequence[str] = TRAIN,
    heldout: Sequence[str] = HELDOUT,
    ancestor: Any = None,
    seed: int = 0,
    corpus: Corpus | None = None,
    **config: Any,
) -> Setup:
    """A run's setup over a tiny corpus (``MetricsConfig`` defaults unless overridden)."""
    corpus = corpus or Corpus(name="tiny", train=list(train), heldout=list(heldout))
    return Setup.for_run(MetricsConfig(**config), corpus, ancestor or Flat(2.0), seed)


def given(
    rec: RoundRecord,
    agent: dict[str, Sequence[Any]] | None = None,
    pair: pd.DataFrame | None = None,
    round_: dict[str, Any] | None = None,
    utterances: dict[str, Sequence[Sequence[float | None]]] | None = None,
) -> Results:
    """Results as if earlier measures had found these columns (agent: column -> values)."""
    agent = agent or {}

    class Given(Measure):
        name = "given"
        columns = Columns(
            agent=tuple(agent),
            pair=tuple(pair.columns) if pair is not None else (),
            round=tuple(round_ or {}),
        )

        def measure(self, record: RoundRecord, before: Results) -> Rows:
            return Rows(
                agent=[
                    dict(zip(agent, values, strict=True))
                    for values in zip(*agent.values(), strict=True)
                ],
                pair=pair,
                round=round_ or {},
                utterances=utterances or {},
            )

    results = Results(rec)
    measure = Given(None)  # type: ignore[arg-type]
    results.add(measure, measure.measure(rec, results))
    return results


def measure(cls: type[Measure], rec: RoundRecord, run: Setup, before: Results | None = None):
    """Call one measure directly: a fresh instance of ``cls`` on ``rec``."""
    return cls(run).measure(rec, before if before is not None else Results(rec))
