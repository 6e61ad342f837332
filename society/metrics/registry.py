"""The measurement registry: measures that read a round's record and return rows.

A measure (``Measure``) declares the columns it fills in each table (``Columns``: the
agent, pair and round tables) and, called with a ``RoundRecord`` and the ``Results`` of
the measures registered before it, returns its ``Rows``. It never writes anywhere else;
what it keeps from round to round (a baseline, a tracker, a cache) lives on the measure
object. The ``Registry`` runs its measures in order, checks each one returned exactly the
columns it declared, and the tables' columns are the declared ones in registration order
(``table_columns``).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pandas as pd

from society.metrics.reference import Reference
from society.metrics.side import Job, SideProcess

if TYPE_CHECKING:
    from society.config import MetricsConfig
    from society.corpora import Corpus
    from society.metrics.record import RoundRecord, Scorer

Level = Literal["agent", "pair", "round"]
LEVELS: tuple[Level, ...] = ("agent", "pair", "round")
KEYS: dict[Level, tuple[str, ...]] = {"agent": ("round", "agent"), "pair": ("round",), "round": ()}
"""Columns each table starts with that no measure owns (the round table's ``round`` is
the identity measure's)."""


@dataclass(frozen=True)
class Columns:
    """The columns a measure fills, per table."""

    agent: tuple[str, ...] = ()
    pair: tuple[str, ...] = ()
    round: tuple[str, ...] = ()

    def of(self, level: Level) -> tuple[str, ...]:
        """The columns at ``level``."""
        return getattr(self, level)


@dataclass(frozen=True)
class Rows:
    """What one measure found in one round.

    Attributes:
        agent: one row per record agent, in order, keyed by the measure's agent columns.
        pair: one row per record pair, in order (None when the round has no pairs).
        round: the measure's round columns.
        utterances: per-utterance results by name: per agent, one value (or None) for each
            of its first texts (the ancestor's perplexity of each text, for
            ``samples.jsonl``).
    """

    agent: Sequence[Mapping[str, Any]] = ()
    pair: pd.DataFrame | None = None
    round: Mapping[str, Any] = field(default_factory=dict)
    utterances: Mapping[str, Sequence[Sequence[float | None]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Setup:
    """What a run gives its measures once: the config, the real corpus, the ancestor.

    Attributes:
        config: the scenario's ``[metrics]`` table.
        reference: the real corpus as the measures need it.
        heldout: the held-out texts every agent's model is scored on.
        ancestor: the generation-0 model (scores agents' texts).
        seed: the scenario seed (measures derive their own generators from it and the
            round, never drawing from the society's).
        side: where ``SideMeasure`` work is computed (default: here, no second process).
    """

    config: MetricsConfig
    reference: Reference
    heldout: tuple[str, ...]
    ancestor: Scorer
    seed: int
    side: SideProcess = field(default_factory=lambda: SideProcess(enabled=False))

    @classmethod
    def for_run(
        cls,
        config: MetricsConfig,
        corpus: Corpus,
        ancestor: Scorer,
        seed: int,
        side: SideProcess | None = None,
    ) -> Setup:
        """Derive the setup from the run's corpus (tokenised once).

        Args:
            config: ``[metrics]``.
            corpus: the run's main real-data corpus.
            ancestor: the generation-0 model.
            seed: the scenario seed.
            side: the second process for ``SideMeasure`` work (None: none).

        Returns:
            The setup.
        """
        return cls(
            config=config,
            reference=Reference.from_corpus(corpus, config.tail_share),
            heldout=tuple(corpus.heldout[: config.heldout_texts]),
            ancestor=ancestor,
            seed=seed,
            side=side if side is not None else SideProcess(enabled=False),
        )


class Measure(ABC):
    """One registered measure.

    Subclasses set ``name`` and ``columns`` and implement ``measure``. Per-run state
    belongs on the instance; side tables (one row per something other than an agent, a
    pair or a round) are returned by ``tables``.

    Args:
        setup: the run's setup.
    """

    name: ClassVar[str]
    columns: ClassVar[Columns]
    scores_every_model: ClassVar[bool] = False
    """Whether it scores with every agent's model (the registry's ``release_models`` waits
    for the last such measure; later ones may still score with a few, at their own cost)."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup

    @property
    def levels(self) -> tuple[Level, ...]:
        """The tables this measure fills."""
        return tuple(level for level in LEVELS if self.columns.of(level))

    @abstractmethod
    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """Measure one round.

        Args:
            record: the round.
            before: what the measures registered before this one found (read only).

        Returns:
            Exactly the declared columns.
        """

    def prepare(self, record: RoundRecord) -> None:  # noqa: B027 - optional hook
        """Called for every measure before the round's first is measured (default: nothing).

        A measure may start work here that runs while the measures before it compute.
        """

    def tables(self) -> dict[str, pd.DataFrame]:
        """Side tables by file stem (``metrics/<stem>.parquet``); none by default."""
        return {}


Call = tuple[Callable[..., Any], tuple[Any, ...]]
"""A module-level function and its (picklable) arguments."""


class SideMeasure(Measure):
    """A measure whose work is one self-contained call, computed by ``setup.side``.

    ``prepare`` submits the round's call (``work``), ``measure`` takes its value and turns
    it into rows (``finish``); a round measured without ``prepare`` computes it here. The
    worker is started when the measure is set up, if the measure will ever have work.
    """

    takeable: ClassVar[bool] = True
    """Whether this process computes the call itself rather than wait for the worker to
    start it (``SideProcess.submit``)."""

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        self._job: tuple[RoundRecord, Job | None] | None = None
        if self.active():
            setup.side.start()

    def active(self) -> bool:
        """Whether the measure has work on some round (default: yes)."""
        return True

    @abstractmethod
    def work(self, record: RoundRecord) -> Call | None:
        """The round's call, or None when there is nothing to compute."""

    @abstractmethod
    def finish(self, record: RoundRecord, value: Any) -> Rows:
        """The rows from the call's value (None when there was no call)."""

    def prepare(self, record: RoundRecord) -> None:
        """Submit the round's call to the side process."""
        call = self.work(record)
        job = None
        if call is not None:
            job = self.setup.side.submit(call[0], *call[1], takeable=self.takeable)
        self._job = (record, job)

    def measure(self, record: RoundRecord, before: Results) -> Rows:
        """The rows of the prepared call's value (computed here if not prepared)."""
        job, self._job = self._job, None
        if job is not None and job[0] is record:
            value = None if job[1] is None else job[1].result()
        else:
            call = self.work(record)
            value = None if call is None else call[0](*call[1])
        return self.finish(record, value)


class Results:
    """What the measures found in one round, so far; measures only read it.

    It keeps the round's number, agent ids and pair count, not the record, so holding the
    last results does not keep the round's models alive.

    Args:
        record: the round measured.

    Attributes:
        measured_round: the round measured.
        ids: the agents' ids, in record order.
    """

    def __init__(self, record: RoundRecord) -> None:
        self.measured_round = record.round
        self.ids = tuple(record.ids)
        self._n_pairs = None if record.pairs is None else len(record.pairs)
        self._agents: list[dict[str, Any]] = [{} for _ in record.agents]
        self._position = {agent_id: i for i, agent_id in enumerate(self.ids)}
        self._pairs: list[pd.DataFrame] = []
        self._round: dict[str, Any] = {}
        self._utterances: dict[str, tuple[tuple[float | None, ...], ...]] = {}

    def add(self, measure: Measure, rows: Rows) -> None:
        """Add one measure's rows (the registry does this after each measure).

        Raises:
            ValueError: if the rows are not exactly the measure's declared columns.
        """
        declared, n = measure.columns, len(self.ids)
        if len(rows.agent) != (n if declared.agent else 0) or any(
            tuple(row) != declared.agent for row in rows.agent
        ):
            raise ValueError(f"{measure.name}: agent rows differ from {declared.agent}")
        if tuple(rows.round) != declared.round:
            raise ValueError(f"{measure.name}: round row differs from {declared.round}")
        expected_pairs = self._n_pairs is not None and bool(declared.pair)
        if (rows.pair is not None) != expected_pairs or (
            rows.pair is not None
            and (tuple(rows.pair.columns) != declared.pair or len(rows.pair) != self._n_pairs)
        ):
            raise ValueError(f"{measure.name}: pair rows differ from {declared.pair}")
        for mine, row in zip(self._agents, rows.agent, strict=False):
            mine.update(row)
        if rows.pair is not None:
            self._pairs.append(rows.pair)
        self._round.update(rows.round)
        for name, values in rows.utterances.items():
            self._utterances[name] = tuple(tuple(v) for v in values)

    @property
    def round(self) -> Mapping[str, Any]:
        """The round row so far."""
        return MappingProxyType(self._round)

    def agent_rows(self) -> tuple[Mapping[str, Any], ...]:
        """The agent rows so far, in record order."""
        return tuple(MappingProxyType(row) for row in self._agents)

    def agent_row(self, agent_id: int) -> Mapping[str, Any]:
        """One agent's row so far (empty for an agent not in the record)."""
        position = self._position.get(agent_id)
        return MappingProxyType(self._agents[position] if position is not None else {})

    def column(self, name: str) -> list[Any]:
        """One agent column, in record order."""
        return [row[name] for row in self._agents]

    @property
    def pairs(self) -> pd.DataFrame | None:
        """The pair rows so far (a new frame; None when the round compares no pairs)."""
        if self._n_pairs is None:
            return None
        if not self._pairs:
            return pd.DataFrame(index=range(self._n_pairs))
        return pd.concat(self._pairs, axis=1)

    def pair_table(self) -> pd.DataFrame | None:
        """The round's rows of the pair table: ``round``, then the pair columns."""
        pairs = self.pairs
        if pairs is not None:
            pairs.insert(0, "round", self.measured_round)
        return pairs

    def utterances(self, name: str) -> tuple[tuple[float | None, ...], ...]:
        """A per-utterance result, per agent in record order (empty if not measured)."""
        return self._utterances.get(name, ())

    def utterances_by_agent(self, name: str) -> dict[int, tuple[float | None, ...]]:
        """A per-utterance result keyed by agent id."""
        values = self.utterances(name)
        return dict(zip(self.ids, values, strict=False))


def table_columns(measures: Sequence[type[Measure] | Measure], level: Level) -> tuple[str, ...]:
    """A table's columns: its keys, then every measure's declared columns in order.

    Args:
        measures: the registered measures (classes or instances), in order.
        level: ``"agent"``, ``"pair"`` or ``"round"``.

    Returns:
        The column names.

    Raises:
        ValueError: if two measures declare the same column.
    """
    names = [*KEYS[level], *(c for m in measures for c in m.columns.of(level))]
    if len(set(names)) != len(names):
        raise ValueError(f"{level} columns declared twice: {names}")
    return tuple(names)


class Registry:
    """The measures of a run, in order; one call measures a round.

    Args:
        setup: the run's setup.
        measures: the measure classes, in order (later ones may read earlier ones).
    """

    def __init__(self, setup: Setup, measures: Sequence[type[Measure]]) -> None:
        self.setup = setup
        self.measures: tuple[Measure, ...] = tuple(cls(setup) for cls in measures)
        for level in LEVELS:
            table_columns(self.measures, level)  # refuse duplicate columns at once

    def __iter__(self) -> Iterator[Measure]:
        return iter(self.measures)

    def columns(self, level: Level) -> tuple[str, ...]:
        """A table's columns (``table_columns`` of the registered measures)."""
        return table_columns(self.measures, level)

    def measure(
        self,
        record: RoundRecord,
        seconds: dict[str, float] | None = None,
        *,
        wall: bool = False,
        release_models: Callable[[], None] | None = None,
    ) -> Results:
        """Run every measure on ``record``, in order.

        Args:
            record: the round.
            seconds: if given, receives the seconds each measure took, by name (``society
                bench``): CPU seconds of this process (all threads), or wall-clock ones.
            wall: time with the wall clock rather than CPU time.
            release_models: called once no measure left scores with every agent's model
                (after the last ``scores_every_model`` measure): the society frees what
                its models hold only for speaking and scoring.

        Returns:
            Everything measured this round.
        """
        results = Results(record)
        clock = time.perf_counter if wall else time.process_time
        last_full = max(
            (i for i, m in enumerate(self.measures) if m.scores_every_model), default=-1
        )
        if release_models is not None and last_full < 0:
            release_models()
        spent = dict.fromkeys((m.name for m in self.measures), 0.0)
        for i, measure in enumerate(self.measures):
            if i == last_full + 1:  # after the measures that score with every model
                self.prepare(record, spent, clock, first=i)
            start = clock()
            rows = measure.measure(record, results)
            spent[measure.name] += clock() - start
            if seconds is not None:
                seconds[measure.name] = spent[measure.name]
            results.add(measure, rows)
            if release_models is not None and i == last_full:
                release_models()
        return results

    def prepare(
        self,
        record: RoundRecord,
        spent: dict[str, float],
        clock: Callable[[], float],
        first: int = 0,
    ) -> None:
        """``prepare`` of the measures from position ``first`` on, the time added to ``spent``.

        Called once the measures that score with every model have run (those before
        ``first``): their compiled kernels use every core, which work sent to the side
        process would slow down.
        """
        for measure in self.measures[first:]:
            start = clock()
            measure.prepare(record)
            spent[measure.name] += clock() - start

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every measure's side tables, by file stem."""
        return {stem: table for m in self.measures for stem, table in m.tables().items()}

    def close(self) -> None:
        """Stop the side process (if one was started); measuring again starts a new one."""
        self.setup.side.close()
