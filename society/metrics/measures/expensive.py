"""The costly per-agent measures: self-BLEU, the real-vs-generated classifier, embeddings.

They run on round 0, the last round and every ``metrics.expensive_every`` rounds
(``due``), each on a seeded sample of agents (``sampled``); elsewhere their columns are NaN.
Their generators derive from the seed, the round and a purpose number, so measuring never
draws from the society's.
"""

from __future__ import annotations

import numpy as np

from society.metrics import semantic
from society.metrics.classifier import real_vs_generated_accuracy
from society.metrics.record import RoundRecord
from society.metrics.registry import Columns, Measure, Results, Rows, Setup
from society.metrics.selfbleu import self_bleu

CLASSIFIER, EMBEDDINGS, SELF_BLEU = 1, 2, 4
"""Purpose numbers of the agent samples (``sampled``)."""


def rng(seed: int, round_: int, purpose: int) -> np.random.Generator:
    """A generator for one purpose in one round, independent of the society's."""
    return np.random.default_rng([seed, round_, purpose])


def due(record: RoundRecord, every: int) -> bool:
    """Whether the costly measures run this round (round 0, the last, every ``every``)."""
    return record.round == 0 or record.round == record.last or record.round % every == 0


def sampled(record: RoundRecord, k: int, seed: int, purpose: int) -> set[int]:
    """Ids of ``k`` agents drawn for one measure this round (all of them if ``k`` suffices).

    Args:
        record: the round.
        k: how many agents.
        seed: the scenario seed.
        purpose: the measure's purpose number.

    Returns:
        The chosen agent ids.
    """
    ids = sorted(record.ids)
    if k >= len(ids):
        return set(ids)
    return set(rng(seed, record.round, purpose).choice(ids, size=k, replace=False).tolist())


class SelfBleu(Measure):
    """Self-BLEU of ``self_bleu_texts`` seeded hypotheses of ``self_bleu_agents`` agents."""

    name = "self_bleu"
    columns = Columns(agent=("self_bleu",))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """Self-BLEU per chosen agent on due rounds, NaN otherwise."""
        config, seed = self.setup.config, self.setup.seed
        chosen = (
            sampled(record, config.self_bleu_agents, seed, SELF_BLEU)
            if due(record, config.expensive_every) and config.self_bleu_texts
            else set()
        )
        rows = []
        for agent in record.agents:
            value = float("nan")
            if agent.id in chosen and config.self_bleu_texts:
                doc = agent.docs
                k = min(config.self_bleu_texts, len(doc))
                picks = rng(seed, record.round, 1000 + agent.id).choice(len(doc), k, replace=False)
                value = self_bleu(doc, sorted(picks.tolist()))
            rows.append({"self_bleu": value})
        return Rows(agent=rows)


class RealVsGenerated(Measure):
    """Accuracy of a classifier telling ``classifier_agents`` agents' texts from real ones."""

    name = "real_vs_generated"
    columns = Columns(agent=("real_vs_generated",))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """``classifier.real_vs_generated_accuracy`` per chosen agent on due rounds."""
        config, seed = self.setup.config, self.setup.seed
        chosen = (
            sampled(record, config.classifier_agents, seed, CLASSIFIER)
            if due(record, config.expensive_every) and config.classifier_agents
            else set()
        )
        heldout = self.setup.reference.heldout
        return Rows(
            agent=[
                {
                    "real_vs_generated": (
                        real_vs_generated_accuracy(a.texts, heldout, seed=seed + record.round)
                        if a.id in chosen
                        else float("nan")
                    )
                }
                for a in record.agents
            ]
        )


class Semantic(Measure):
    """Sentence-embedding drift from the real texts and diversity (``embeddings`` extra)."""

    name = "semantic"
    columns = Columns(agent=("semantic_drift", "semantic_diversity"))

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self._real_centroid: np.ndarray | None = None

    def real_centroid(self) -> np.ndarray:
        """Centroid of the embedded held-out real texts (computed once)."""
        if self._real_centroid is None:
            texts = self.setup.reference.heldout[:200]
            self._real_centroid = semantic.centroid(semantic.embed(texts))
        return self._real_centroid

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """Embed chosen agents' first ``embedding_texts`` texts on due rounds."""
        config = self.setup.config
        chosen = (
            sampled(record, config.classifier_agents or 8, self.setup.seed, EMBEDDINGS)
            if due(record, config.expensive_every) and config.embeddings
            else set()
        )
        rows = []
        for agent in record.agents:
            row = {"semantic_drift": float("nan"), "semantic_diversity": float("nan")}
            if agent.id in chosen:
                vectors = semantic.embed(agent.texts[: config.embedding_texts])
                row["semantic_drift"] = semantic.drift(vectors, self.real_centroid())
                row["semantic_diversity"] = semantic.diversity(vectors)
            rows.append(row)
        return Rows(agent=rows)
