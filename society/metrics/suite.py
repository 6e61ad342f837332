"""The measurement suite beyond the basics: shape, novelty, errors, semantics, dialects.

``Measures`` is built once per society (it holds the real-corpus reference, the
neologism tracker and the round-0 baseline) and is called from ``Society.measure``:

- ``agent(...)`` adds per-agent columns (``AGENT_EXTRA``) to ``agent.metrics``;
- ``round(...)`` clusters agents into dialects (writing ``dialect`` into each agent's
  metrics), runs the Mantel test, finds characteristic expressions, tracks neologisms,
  and returns the round columns (``ROUND_EXTRA``).

Expensive measures (self-BLEU, the classifier, embeddings) run on round 0, the last round
and every ``metrics.expensive_every`` rounds, on seeded subsamples; their own random
generator is derived from the seed and the round, so measuring never changes what the
society does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import shortest_path

from society.lm.base import LanguageModel
from society.metrics import semantic
from society.metrics.classifier import real_vs_generated_accuracy
from society.metrics.dialects import (
    MIN_SILHOUETTE,
    assign_nearest,
    best_cut,
    characteristic_expressions,
    dialect_ari,
    distance_matrix,
    mantel,
    shuffle_null,
    within_between_index,
)
from society.metrics.distribution import coverage, tail_mass, zipf_exponent
from society.metrics.divergence import jsd_matrix, ngram_count_matrix, ngram_counts
from society.metrics.novelty import InnovationTracker, neologisms, ngrams, novel_fraction
from society.metrics.reference import NOVEL_ORDERS, Reference
from society.metrics.selfbleu import self_bleu

if TYPE_CHECKING:
    from society.config import MetricsConfig
    from society.corpora import Corpus
    from society.sim.agents import Speaker

Doc = Sequence[Sequence[str]]

AGENT_EXTRA = (
    "unique_1",
    "unique_2",
    "unique_3",
    "zipf",
    "tail_mass",
    "coverage",
    *(f"novel_{n}" for n in NOVEL_ORDERS),
    "neologism_share",
    "grammatical",
    "ancestor_ppl",
    "self_bleu",
    "real_vs_generated",
    "semantic_drift",
    "semantic_diversity",
    "dialect",
)
DIALECT_COLUMNS = (
    "dialects",
    "dialect_silhouette",
    "dialect_null_silhouette",
    "dialect_ari",
    "dialect_index",
    "mantel_r",
    "mantel_p",
)
ROUND_MEANS = tuple(c for c in AGENT_EXTRA if c != "dialect")
ROUND_EXTRA = (
    *ROUND_MEANS,
    "tail_mass_ratio",
    *DIALECT_COLUMNS,
    "neologisms_new",
    "neologisms_alive",
    "neologisms_shared",
)
EXPRESSION_COLUMNS = ("round", "dialect", "agents", "rank", "expression", "z", "count")


def _mean(values: Sequence[float]) -> float:
    array = np.asarray([v for v in values if v is not None], dtype=float)
    array = array[np.isfinite(array)]
    return float(array.mean()) if len(array) else float("nan")


def _perplexities(lm: LanguageModel, texts: Sequence[str]) -> tuple[float, list[float | None]]:
    """Corpus perplexity of ``texts`` under ``lm`` and each text's own perplexity."""
    if not texts:
        return float("nan"), []
    loglik, tokens = lm.score(list(texts))
    loglik, tokens = np.asarray(loglik, dtype=float), np.asarray(tokens, dtype=float)
    each = np.exp(-np.divide(loglik, tokens, out=np.full_like(loglik, np.nan), where=tokens > 0))
    total = tokens.sum()
    per_text = [float(x) if np.isfinite(x) else None for x in each]
    return (float(np.exp(-loglik.sum() / total)) if total else float("nan")), per_text


class Measures:
    """Per-run state of the measurement suite.

    Args:
        config: the scenario's ``[metrics]`` table.
        corpus: the run's real data.
        ancestor: the generation-0 model (scores agent output, Shumailov et al. style).
        seed: the scenario seed (subsamples are drawn from ``(seed, round)``).
    """

    def __init__(
        self, config: MetricsConfig, corpus: Corpus, ancestor: LanguageModel, seed: int
    ) -> None:
        self.config = config
        self.reference = Reference.from_corpus(corpus, config.tail_share)
        self.ancestor = ancestor
        self.seed = seed
        self.tracker = InnovationTracker(config.innovation_min_agents)
        self.tail_baseline: float | None = None
        self.expressions: list[pd.DataFrame] = []
        self._real_centroid: np.ndarray | None = None

    def rng(self, round_: int, purpose: int) -> np.random.Generator:
        """A generator for one purpose in one round, independent of the society's."""
        return np.random.default_rng([self.seed, round_, purpose])

    def expensive(self, round_: int, last: int) -> bool:
        """Whether the costly measures run this round (round 0, the last, every k)."""
        return round_ == 0 or round_ == last or round_ % self.config.expensive_every == 0

    def chosen(self, speakers: Sequence[Speaker], k: int, round_: int, purpose: int) -> set[int]:
        """Ids of ``k`` agents sampled for an expensive measure this round."""
        ids = sorted(a.unique_id for a in speakers)
        if k >= len(ids):
            return set(ids)
        return set(self.rng(round_, purpose).choice(ids, size=k, replace=False).tolist())

    # -- per agent -------------------------------------------------------------------

    def agent(
        self, agent: Speaker, doc: Doc, round_: int, bleu: bool, classify: bool, embed: bool
    ) -> dict[str, Any]:
        """Per-agent measures of what ``agent`` said this round.

        Args:
            agent: the agent (its ``utterances`` are the texts of ``doc``).
            doc: the utterances, tokenised (``text.tokenize_all``).
            round_: the round.
            bleu: whether this agent's self-BLEU is measured.
            classify: whether this agent is scored by the real-vs-generated classifier.
            embed: whether this agent's texts are embedded.

        Returns:
            The ``AGENT_EXTRA`` columns except ``dialect`` (NaN where not measured).
        """
        ref, config = self.reference, self.config
        counts = Counter(w for tokens in doc for w in tokens)
        total = sum(counts.values())
        new_words = neologisms(counts, ref.vocabulary)
        grams = {n: list(ngrams(doc, n)) for n in (1, 2, 3)}
        out: dict[str, Any] = {f"unique_{n}": float(len(set(grams[n]))) for n in (1, 2, 3)}
        out |= {
            "zipf": zipf_exponent(counts),
            "tail_mass": tail_mass(counts, ref.tail),
            "coverage": coverage(counts, ref.heldout_vocabulary),
            **{f"novel_{n}": novel_fraction(grams[n], ref.ngrams[n]) for n in NOVEL_ORDERS},
            "neologism_share": sum(new_words.values()) / total if total else float("nan"),
            "grammatical": (
                ref.grammar.grammatical_share(agent.utterances)
                if ref.grammar is not None and agent.utterances
                else float("nan")
            ),
        }
        scored = agent.utterances[: config.ancestor_texts]
        out["ancestor_ppl"], each = _perplexities(self.ancestor, scored)
        agent.ancestor_scores = (round_, each)
        out["self_bleu"] = float("nan")
        if bleu and config.self_bleu_texts:
            k = min(config.self_bleu_texts, len(doc))
            picks = self.rng(round_, 1000 + agent.unique_id).choice(len(doc), k, replace=False)
            out["self_bleu"] = self_bleu(doc, sorted(picks.tolist()))
        out["real_vs_generated"] = (
            real_vs_generated_accuracy(agent.utterances, ref.heldout, seed=self.seed + round_)
            if classify
            else float("nan")
        )
        out["semantic_drift"] = out["semantic_diversity"] = float("nan")
        if embed:
            texts = agent.utterances[: config.embedding_texts]
            vectors = semantic.embed(texts)
            out["semantic_drift"] = semantic.drift(vectors, self.real_centroid())
            out["semantic_diversity"] = semantic.diversity(vectors)
        agent.neologism_counts = new_words
        return out

    def real_centroid(self) -> np.ndarray:
        """Centroid of the embedded held-out real texts (computed once)."""
        if self._real_centroid is None:
            texts = self.reference.heldout[:200]
            self._real_centroid = semantic.centroid(semantic.embed(texts))
        return self._real_centroid

    def measure_agents(
        self, speakers: Sequence[Speaker], docs: Sequence[Doc], round_: int, last: int
    ) -> None:
        """Add the per-agent measures to every agent's ``metrics``."""
        expensive = self.expensive(round_, last)
        config = self.config
        classify = (
            self.chosen(speakers, config.classifier_agents, round_, 1)
            if expensive and config.classifier_agents
            else set()
        )
        embed = (
            self.chosen(speakers, config.classifier_agents or 8, round_, 2)
            if expensive and config.embeddings
            else set()
        )
        bleu = (
            self.chosen(speakers, config.self_bleu_agents, round_, 4)
            if expensive and config.self_bleu_texts
            else set()
        )
        for agent, doc in zip(speakers, docs, strict=True):
            agent.metrics.update(
                self.agent(
                    agent,
                    doc,
                    round_,
                    agent.unique_id in bleu,
                    agent.unique_id in classify,
                    agent.unique_id in embed,
                )
            )

    # -- per round -------------------------------------------------------------------

    def round(
        self,
        round_: int,
        speakers: Sequence[Speaker],
        docs: Sequence[Doc],
        pairs: pd.DataFrame | None,
        graph: nx.Graph,
    ) -> dict[str, Any]:
        """Dialects, Mantel test, expressions, innovations and round means.

        Sets ``agent.metrics["dialect"]`` for every agent.

        Returns:
            The ``ROUND_EXTRA`` columns.
        """
        out: dict[str, Any] = {c: _mean([a.metrics.get(c) for a in speakers]) for c in ROUND_MEANS}
        if self.tail_baseline is None and np.isfinite(out["tail_mass"]):
            self.tail_baseline = out["tail_mass"]
        out["tail_mass_ratio"] = (
            out["tail_mass"] / self.tail_baseline if self.tail_baseline else float("nan")
        )
        out |= self.dialects(round_, speakers, docs, pairs, graph)
        usage = [
            (a.unique_id, a.node, a.community, getattr(a, "neologism_counts", Counter()))
            for a in speakers
        ]
        out |= self.tracker.update(round_, usage, graph)
        return out

    def dialects(
        self,
        round_: int,
        speakers: Sequence[Speaker],
        docs: Sequence[Doc],
        pairs: pd.DataFrame | None,
        graph: nx.Graph,
    ) -> dict[str, Any]:
        """Cluster agents into dialects and relate the dialects to the network."""
        config = self.config
        n = len(speakers)
        ids = [a.unique_id for a in speakers]
        nan = float("nan")
        out = dict.fromkeys(DIALECT_COLUMNS, nan)
        if n == 0:
            return out
        column = config.dialect_distance
        order = 2 if column == "jsd_bigram" else 1
        if n > config.dialect_agents:
            sample = np.sort(self.rng(round_, 3).choice(n, config.dialect_agents, replace=False))
        else:
            sample = np.arange(n)
        complete = (
            pairs is not None
            and column in pairs
            and len(pairs) == n * (n - 1) // 2
            and bool(pairs[column].notna().all())
        )
        if not complete and not column.startswith("jsd"):
            column = "jsd_unigram"  # model-based distances only cover a sample of agents
        if complete and len(sample) == n:
            distance = distance_matrix(pairs, ids, column)
        else:
            distance = jsd_matrix(ngram_count_matrix([docs[i] for i in sample], order))
        sampled_docs = [docs[i] for i in sample]
        labels, silhouette = best_cut(distance, config.max_dialects)
        threshold = MIN_SILHOUETTE
        if config.dialect_null and column.startswith("jsd"):
            null = shuffle_null(
                sampled_docs, order, config.dialect_null, self.seed + round_, config.max_dialects
            )
            threshold = float(np.nanmax(null)) if np.isfinite(null).any() else threshold
            out["dialect_null_silhouette"] = threshold
        if not silhouette > threshold:
            labels = np.zeros(len(sample), dtype=np.int64)
        out["dialect_silhouette"] = silhouette
        if len(sample) < n:
            labels_all = assign_nearest(ngram_count_matrix(docs, order), sample, labels)
        else:
            labels_all = labels
        for agent, label in zip(speakers, labels_all, strict=True):
            agent.metrics["dialect"] = int(label)
        k = len(np.unique(labels))
        out["dialects"] = float(len(np.unique(labels_all)))
        out["dialect_ari"] = dialect_ari(labels_all, [a.community for a in speakers])
        out["dialect_index"] = within_between_index(distance, labels)["index"]
        if config.mantel_permutations and len(sample) >= 3:
            hops = self.hops(graph, [speakers[i].node for i in sample])
            out["mantel_r"], out["mantel_p"] = mantel(
                distance, hops, config.mantel_permutations, seed=self.seed + round_
            )
        if config.expressions and k >= 2:
            self.expressions.append(self.characteristic(round_, docs, labels_all))
        return out

    @staticmethod
    def hops(graph: nx.Graph, nodes: Sequence[int]) -> np.ndarray:
        """Shortest-path lengths (edges) between ``nodes``.

        Unreachable pairs (isolated communities) count as one hop farther than the
        farthest reachable pair, so the Mantel test still sees them as distant.
        """
        everyone = list(graph.nodes)
        position = {node: i for i, node in enumerate(everyone)}
        adjacency = nx.to_scipy_sparse_array(graph, nodelist=everyone, weight=None)
        rows = [position[node] for node in nodes]
        lengths = shortest_path(adjacency, directed=False, unweighted=True, indices=rows)
        lengths = lengths[:, rows]
        finite = lengths[np.isfinite(lengths)]
        return np.where(np.isfinite(lengths), lengths, (finite.max() if finite.size else 0) + 1)

    def characteristic(self, round_: int, docs: Sequence[Doc], labels: np.ndarray) -> pd.DataFrame:
        """Characteristic words and bigrams of each dialect this round."""
        from scipy import sparse

        uni, uni_vocab = ngram_counts(docs, 1)
        bi, bi_vocab = ngram_counts(docs, 2)
        table = characteristic_expressions(
            sparse.hstack([uni, bi]).tocsr(),
            [*uni_vocab, *bi_vocab],
            labels,
            top=self.config.expressions,
        )
        sizes = pd.Series(labels).value_counts()
        table.insert(0, "round", round_)
        table.insert(2, "agents", table["dialect"].map(sizes).astype(int))
        return table

    def expression_table(self) -> pd.DataFrame:
        """``metrics/expressions.parquet``: one row per (round, dialect, rank)."""
        if not self.expressions:
            return pd.DataFrame(columns=list(EXPRESSION_COLUMNS))
        return pd.concat(self.expressions, ignore_index=True)

    def innovation_table(self) -> pd.DataFrame:
        """``metrics/innovations.parquet``: one row per (round, neologism) tracked."""
        return self.tracker.table()
