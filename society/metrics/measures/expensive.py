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
from society.metrics.record import Doc, RoundRecord
from society.metrics.registry import Call, Columns, Measure, Results, Rows, Setup, SideMeasure
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


def due_sample(record: RoundRecord, setup: Setup, k: int, purpose: int, on: bool) -> list[int]:
    """Ids of the ``k`` agents a costly measure takes this round (``sampled``).

    In record order; none when the measure is off or the round is not ``due``.
    """
    if not (on and due(record, setup.config.expensive_every)):
        return []
    ids = sampled(record, k, setup.seed, purpose)
    return [a.id for a in record.agents if a.id in ids]


def self_bleus(jobs: list[tuple[Doc, list[int]]]) -> list[float]:
    """``self_bleu(doc, picks)`` of each ``(doc, picks)`` (one side-process call)."""
    return [self_bleu(doc, picks) for doc, picks in jobs]


def accuracies(groups: list[list[str]], heldout: tuple[str, ...], seed: int) -> list[float]:
    """``real_vs_generated_accuracy`` of each group of texts (one side-process call)."""
    return [real_vs_generated_accuracy(texts, heldout, seed=seed) for texts in groups]


def _column(record: RoundRecord, name: str, chosen: list[int], values: list[float]) -> Rows:
    """One agent column: ``values`` for the ``chosen`` agents (ids, in record order), NaN."""
    by_id = dict(zip(chosen, values, strict=True))
    return Rows(agent=[{name: by_id.get(a.id, float("nan"))} for a in record.agents])


class SelfBleu(SideMeasure):
    """Self-BLEU of ``self_bleu_texts`` seeded hypotheses of ``self_bleu_agents`` agents."""

    name = "self_bleu"
    columns = Columns(agent=("self_bleu",))

    def active(self) -> bool:
        """Whether any hypothesis is scored (``self_bleu_texts`` > 0)."""
        return self.setup.config.self_bleu_texts > 0

    def chosen(self, record: RoundRecord) -> list[int]:
        """Ids of the agents scored this round (``due_sample``)."""
        config = self.setup.config
        on = config.self_bleu_texts > 0
        return due_sample(record, self.setup, config.self_bleu_agents, SELF_BLEU, on)

    def work(self, record: RoundRecord) -> Call | None:
        """Each chosen agent's texts (word tuples) and its seeded hypotheses."""
        config, seed = self.setup.config, self.setup.seed
        agents = {a.id: a for a in record.agents}
        jobs = []
        for agent_id in self.chosen(record):
            doc = agents[agent_id].docs
            k = min(config.self_bleu_texts, len(doc))
            picks = rng(seed, record.round, 1000 + agent_id).choice(len(doc), k, replace=False)
            jobs.append((doc, sorted(picks.tolist())))
        return (self_bleus, (jobs,)) if jobs else None

    def finish(self, record: RoundRecord, value: list[float] | None) -> Rows:
        """Self-BLEU per chosen agent on due rounds, NaN otherwise."""
        return _column(record, "self_bleu", self.chosen(record), value or [])


class RealVsGenerated(SideMeasure):
    """Accuracy of a classifier telling ``classifier_agents`` agents' texts from real ones."""

    name = "real_vs_generated"
    columns = Columns(agent=("real_vs_generated",))
    takeable = False  # computed here, it would import scikit-learn here (~1.5 s)

    def active(self) -> bool:
        """Whether any agent is classified (``classifier_agents`` > 0)."""
        return self.setup.config.classifier_agents > 0

    def chosen(self, record: RoundRecord) -> list[int]:
        """Ids of the agents classified this round (``due_sample``)."""
        config = self.setup.config
        on = config.classifier_agents > 0
        return due_sample(record, self.setup, config.classifier_agents, CLASSIFIER, on)

    def work(self, record: RoundRecord) -> Call | None:
        """The chosen agents' texts, the held-out real texts and the round's seed."""
        agents = {a.id: a for a in record.agents}
        groups = [list(agents[i].texts) for i in self.chosen(record)]
        heldout = tuple(self.setup.reference.heldout)
        return (accuracies, (groups, heldout, self.setup.seed + record.round)) if groups else None

    def finish(self, record: RoundRecord, value: list[float] | None) -> Rows:
        """``classifier.real_vs_generated_accuracy`` per chosen agent on due rounds."""
        return _column(record, "real_vs_generated", self.chosen(record), value or [])


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
