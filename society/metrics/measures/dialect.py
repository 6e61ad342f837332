"""Dialects: agents clustered by how they speak, and how the clusters sit on the network."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import shortest_path

from society.metrics.counts import PopulationCounts
from society.metrics.dialects import (
    MIN_SILHOUETTE,
    assign_nearest,
    best_cut,
    characteristic_expressions,
    dialect_ari,
    dialect_test,
    distance_matrix,
    mantel,
    within_between_index,
)
from society.metrics.divergence import jsd_matrix, ngram_count_matrix
from society.metrics.record import RoundRecord
from society.metrics.registry import Columns, Measure, Results, Rows, Setup
from society.metrics.relabel import NullPlan, null_plan, relabelled_jsd
from society.metrics.side import Job

DIALECT_COLUMNS = (
    "dialects",
    "dialect_silhouette",
    "dialect_p",
    "dialect_ari",
    "dialect_index",
    "mantel_r",
    "mantel_p",
)
EXPRESSION_COLUMNS = ("round", "dialect", "agents", "rank", "expression", "z", "count")
PURPOSE = 3
"""Seeds the sample of agents clustered directly ``(seed, round, PURPOSE)``, the excess
relabellings ``(..., 1)`` and the dialect test ``(..., 2)``."""


def hops(graph: nx.Graph, nodes: Sequence[int]) -> np.ndarray:
    """Shortest-path lengths (edges) between ``nodes``.

    Unreachable pairs (isolated communities) count as one hop farther than the farthest
    reachable pair, so the Mantel test still sees them as distant.

    Args:
        graph: the network.
        nodes: the nodes, in the order of the matrix's rows.

    Returns:
        A square float matrix.
    """
    everyone = list(graph.nodes)
    position = {node: i for i, node in enumerate(everyone)}
    adjacency = nx.to_scipy_sparse_array(graph, nodelist=everyone, weight=None)
    rows = [position[node] for node in nodes]
    lengths = shortest_path(adjacency, directed=False, unweighted=True, indices=rows)
    lengths = lengths[:, rows]
    finite = lengths[np.isfinite(lengths)]
    return np.where(np.isfinite(lengths), lengths, (finite.max() if finite.size else 0) + 1)


def dialect_p(
    docs: list[Any], order: int, deals: int, rng: np.random.Generator, max_dialects: int
) -> float:
    """``dialects.dialect_test``'s p-value (a module-level call for the side process)."""
    return dialect_test(docs, order, deals, rng, max_dialects)[1]


def characteristic(
    round_: int, counts: PopulationCounts, labels: np.ndarray, top: int
) -> pd.DataFrame:
    """Characteristic words and bigrams of each dialect this round (``EXPRESSION_COLUMNS``).

    Args:
        round_: the round.
        counts: every agent's n-gram counts (``RoundRecord.counts``).
        labels: every agent's dialect.
        top: expressions per dialect.

    Returns:
        One row per (dialect, rank).
    """
    from scipy import sparse

    table = characteristic_expressions(
        sparse.hstack([counts.counts[1], counts.counts[2]]).tocsr(),
        [*counts.names(1), *counts.names(2)],
        labels,
        top=top,
    )
    sizes = pd.Series(labels).value_counts()
    table.insert(0, "round", round_)
    table.insert(2, "agents", table["dialect"].map(sizes).astype(int))
    return table


class Dialects(Measure):
    """Cluster agents into dialects, test the split, and relate the dialects to the network.

    The distance clustered is the pair column ``dialect_distance``, by default its
    null-corrected ``_excess`` twin (``dialect_values``) plus the round's mean sampling
    floor (so silhouettes keep a ratio scale), read from the pair table when it
    covers every pair, else computed for a seeded sample of ``dialect_agents`` (the rest
    join the nearest dialect). Whether there are dialects at all is a permutation test
    (``dialects.dialect_test``, ``dialect_null`` deals of the texts of at most
    ``dialect_null_agents`` sampled agents): more than one dialect only when
    ``dialect_p < dialect_alpha``. Gives each agent its ``dialect`` and the round the
    number of dialects, the best cut's silhouette, the test's p-value, agreement with the
    communities, separation, and the Mantel test against graph distance; keeps each split
    round's characteristic expressions (the ``expressions`` side table).
    """

    name = "dialects"
    columns = Columns(agent=("dialect",), round=DIALECT_COLUMNS)

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self.expressions: list[pd.DataFrame] = []
        self._test: tuple[RoundRecord, np.ndarray, Job] | None = None
        self._null: tuple[RoundRecord, np.ndarray, NullPlan, Job | None] | None = None

    def sample(self, record: RoundRecord) -> np.ndarray:
        """Positions of the agents clustered directly (all, or a seeded ``dialect_agents``)."""
        n, config = len(record.agents), self.setup.config
        if n > config.dialect_agents:
            rng = np.random.default_rng([self.setup.seed, record.round, PURPOSE])
            return np.sort(rng.choice(n, config.dialect_agents, replace=False))
        return np.arange(n)

    def order(self) -> int:
        """The n-gram order of the distance (and of the test): 2 for ``jsd_bigram``, else 1."""
        return 2 if self.setup.config.dialect_distance == "jsd_bigram" else 1

    def prepare(self, record: RoundRecord) -> None:
        """Send the round's dialect test and the sample's null to the side process, if any.

        The test's p-value is taken if the cut has a silhouette to test; the null is sent
        only when it is certainly needed (a sample of the agents, excess distances).
        """
        self._test = self._null = None
        config, side = self.setup.config, self.setup.side
        if not (record.agents and side.enabled):
            return
        sample = self.sample(record)
        if config.dialect_null:
            call = self.test_call(record, sample, self.order())
            self._test = (record, sample, side.submit(dialect_p, *call))
        excess = config.dialect_values == "excess" and config.divergence_null > 0
        if excess and len(sample) < len(record.agents):  # the sample's own null, for sure
            order = self.order() if config.dialect_distance.startswith("jsd") else 1
            plan = self.null_plan(record, sample, order)
            job = None if plan.call is None else side.submit(relabelled_jsd, *plan.call)
            self._null = (record, sample, plan, job)

    def distance(self, record: RoundRecord, pairs: pd.DataFrame | None, sample: np.ndarray):
        """The sampled agents' distance matrix, its mean sampling floor, its n-gram order.

        Returns:
            ``(distance, floor, order)``: ``floor`` is the mean over the pairs of the
            relabelling null the excess removed (0 for raw or model-based distances).
        """
        config, n = self.setup.config, len(record.agents)
        column = config.dialect_distance
        order = self.order()
        use_excess = config.dialect_values == "excess" and config.divergence_null > 0
        if column.startswith("jsd") and use_excess:
            column = f"{column}_excess"
        complete = (
            pairs is not None
            and column in pairs
            and len(pairs) == n * (n - 1) // 2
            and bool(pairs[column].notna().all())
        )
        if complete and len(sample) == n:
            distance = distance_matrix(pairs, record.ids, column)
            base = column.removesuffix("_excess")
            floor = float(np.nanmean(pairs[base] - pairs[column])) if base != column else 0.0
            return distance, floor, order
        if not column.startswith("jsd"):  # model-based distances only cover a sample
            column, order = "jsd_unigram_excess" if use_excess else "jsd_unigram", 1
        docs = [record.docs[i] for i in sample]
        raw = jsd_matrix(ngram_count_matrix(docs, order))
        if not column.endswith("_excess"):
            return raw, 0.0, order
        i, j = np.triu_indices(len(sample), k=1)
        prepared, self._null = self._null, None
        if prepared is not None and prepared[0] is record and np.array_equal(prepared[1], sample):
            _, _, plan, job = prepared
            null = plan.fit(None if job is None else job.result())[0]
        else:
            plan = self.null_plan(record, sample, order)
            null = plan.fit(None if plan.call is None else relabelled_jsd(*plan.call))[0]
        out = np.zeros_like(raw)
        out[i, j] = out[j, i] = raw[i, j] - null
        return out, float(np.nanmean(null)) if len(null) else 0.0, order

    def null_plan(self, record: RoundRecord, sample: np.ndarray, order: int) -> NullPlan:
        """The relabelling null of the sample's pairs (``relabel.null_plan``)."""
        config = self.setup.config
        i, j = np.triu_indices(len(sample), k=1)
        rng = np.random.default_rng([self.setup.seed, record.round, PURPOSE, 1])
        return null_plan(
            record.null_texts(sample),
            np.column_stack([i, j]),
            (order,),
            config.divergence_null,
            config.divergence_null_budget,
            rng,
        )

    def test_call(self, record: RoundRecord, sample: np.ndarray, order: int) -> tuple:
        """:func:`dialect_p`'s arguments: at most ``dialect_null_agents`` of the sample."""
        config = self.setup.config
        rng = np.random.default_rng([self.setup.seed, record.round, PURPOSE, 2])
        if len(sample) > config.dialect_null_agents:
            sample = np.sort(rng.choice(sample, config.dialect_null_agents, replace=False))
        docs = [record.docs[i] for i in sample]
        return docs, order, config.dialect_null, rng, config.max_dialects

    def test(self, record: RoundRecord, sample: np.ndarray, order: int) -> float:
        """The dialect test's p-value (the side process's, if it was sent the same test)."""
        prepared, self._test = self._test, None
        if prepared is not None and prepared[0] is record and np.array_equal(prepared[1], sample):
            return prepared[2].result()
        return dialect_p(*self.test_call(record, sample, order))

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """Dialect per agent; the dialect columns of the round."""
        config, seed, round_ = self.setup.config, self.setup.seed, record.round
        agents, _docs = record.agents, record.docs
        n = len(agents)
        out: dict[str, Any] = dict.fromkeys(DIALECT_COLUMNS, float("nan"))
        if n == 0:
            return Rows(round=out)
        sample = self.sample(record)
        distance, floor, order = self.distance(record, before.pairs, sample)
        # The excess has its zero at chance, where silhouettes favour splitting noise into
        # tiny clusters; adding back the round's mean floor restores a ratio scale while
        # keeping what the excess removed (floors that differ between pairs). The
        # average-linkage tree is the same either way.
        shifted = distance + floor * (1 - np.eye(len(distance)))
        labels, silhouette = best_cut(shifted, config.max_dialects)
        out["dialect_silhouette"] = silhouette
        if config.dialect_null and np.isfinite(silhouette):
            out["dialect_p"] = self.test(record, sample, order)
            split = out["dialect_p"] < config.dialect_alpha
        else:
            split = silhouette >= MIN_SILHOUETTE
        if not split:
            labels = np.zeros(len(sample), dtype=np.int64)
        if len(sample) < n:
            labels_all = assign_nearest(record.counts.counts[order], sample, labels)
        else:
            labels_all = labels
        k = len(np.unique(labels))
        out["dialects"] = float(len(np.unique(labels_all)))
        out["dialect_ari"] = dialect_ari(labels_all, record.communities)
        out["dialect_index"] = within_between_index(distance, labels)["index"]
        if config.mantel_permutations and len(sample) >= 3:
            distances = hops(record.graph, [agents[i].node for i in sample])
            out["mantel_r"], out["mantel_p"] = mantel(
                distance, distances, config.mantel_permutations, seed=seed + round_
            )
        if config.expressions and k >= 2:
            self.expressions.append(
                characteristic(round_, record.counts, labels_all, config.expressions)
            )
        self._test = self._null = None  # nothing of the round is kept
        return Rows(agent=[{"dialect": int(label)} for label in labels_all], round=out)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``expressions``: one row per (round, dialect, rank) of every split round."""
        if not self.expressions:
            return {"expressions": pd.DataFrame(columns=list(EXPRESSION_COLUMNS))}
        return {"expressions": pd.concat(self.expressions, ignore_index=True)}
