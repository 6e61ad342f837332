"""Society(mesa.Model): language-model agents on a network; one step is one round.

Round loop (``Society.step``), staged so activation order cannot bias results:

1. events  - apply what the scenario schedules for this round
2. listen  - every agent gathers what its neighbours said last round (weighted by edge and
             selection), plus real text (fixed or scheduled share)
3. curate  - filters decide what each agent keeps (dedup, length, labels, verifier, critic)
4. learn   - update the data buffer and the model (committed agents do not learn)
5. speak   - every agent samples this round's utterances (scheduled temperature, noise)
6. measure - agent and round metrics (DataCollector) and the pair table

Round 0 is the ancestor: agents speak once at construction and are measured, so every
row of the metric tables describes one generation's model and what that model said.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import mesa
import numpy as np
import pandas as pd
from mesa.discrete_space import Network

from society.config import Scenario, flat_to_dotted
from society.config.language_model import model_label, table_for
from society.corpora import Corpus
from society.lm.ancestor_cache import build_ancestor
from society.lm.base import LanguageModel
from society.lm.tokenizer import SharedTokenizer
from society.metrics.measures.ancestor import UTTERANCES
from society.metrics.record import AgentRecord, RoundRecord
from society.metrics.registry import KEYS, Registry, Results
from society.metrics.suite import build_suite
from society.sim.agents import Speaker
from society.sim.community_sources import CommunitySources
from society.sim.curation import Critics, Curator
from society.sim.data_budget import ancestor_budget, generation_zero_texts
from society.sim.events import apply_events
from society.sim.heap import trim_heap
from society.sim.mutation import whole_character_tokens
from society.sim.network import build_graph
from society.sim.samples import Sample, SampleRows
from society.sim.selection import attention
from society.sim.shards import Shards


def _agent_reporter(name: str):
    def report(agent: Speaker) -> Any:
        return agent.model.measured.agent_row(agent.unique_id).get(name)

    report.__name__ = f"agent_{name}"
    return report


def _round_reporter(name: str):
    def report(model: Society) -> Any:
        return model.latest[name]

    report.__name__ = f"round_{name}"
    return report


def collector(measures: Registry) -> mesa.DataCollector:
    """A DataCollector of every column the registered measures declare."""
    agent_columns = measures.columns("agent")[len(KEYS["agent"]) :]  # Step, AgentID
    return mesa.DataCollector(
        model_reporters={name: _round_reporter(name) for name in measures.columns("round")},
        agent_reporters={name: _agent_reporter(name) for name in agent_columns},
    )


def agent_record(agent: Speaker) -> AgentRecord:
    """The agent's round as the measures see it (texts, counts, its model to score with)."""
    return AgentRecord.of(
        id=agent.unique_id,
        node=agent.node,
        community=agent.community,
        texts=agent.utterances,
        heard=len(agent.heard),
        kept=len(agent.kept),
        model=agent.lm,
        model_label=agent.model_label,
    )


class Society(mesa.Model):
    """A community of language-model agents on a graph.

    With ``[real_data.communities]`` a listed community starts from its own corpus and
    ancestor (``corpus_for``, ``ancestor_for``, ``ancestors``) and draws its real text and
    prompts from that corpus; ``corpus``, ``ancestor`` and ``heldout`` stay the main
    source's (held-out perplexity, critics and metrics use them). The tokenizer is trained
    on every source's training split. With ``[language_model.communities]`` a listed
    community's agents hold a model of its own table (a mixed population), with its own
    ancestor; ``model_label_for`` names it in the agents table's ``model`` column.

    Args:
        scenario: the scenario (defaults for everything when omitted).
        seed: replaces the scenario's seed.
        corpus: an already loaded real-data corpus (else read from ``scenario.real_data``).
        **kwargs: flat overrides such as ``real_data_fraction=0.1`` or ``network_kind="ring"``
            (Mesa ``batch_run`` style).
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        seed: int | None = None,
        corpus: Corpus | None = None,
        **kwargs: Any,
    ) -> None:
        scenario = scenario or Scenario()
        overrides = {flat_to_dotted(k): v for k, v in kwargs.items()}
        if seed is not None:
            overrides["seed"] = seed
        if overrides:
            scenario = scenario.with_overrides(overrides, origin="Society(...)")
        super().__init__(seed=scenario.seed)
        self.scenario = scenario
        self.rounds = scenario.rounds
        self.sources = CommunitySources.load(scenario.real_data, corpus)
        self.corpus = self.sources.main
        self.tokenizer = SharedTokenizer.train(
            self.sources.tokenizer_texts(),
            scenario.tokenizer.vocab_size,
            scenario.tokenizer.min_frequency,
        )
        net = scenario.network
        self.graph = build_graph(net, self.rng)
        self.space = Network(self.graph, random=self.random)
        self.ancestor = build_ancestor(
            scenario.language_model, self.tokenizer, self.ancestor_texts(self.corpus)
        )
        self.ancestors = self.sources.ancestors(  # community -> generation 0 (its own source)
            scenario.language_model,
            self.tokenizer,
            self.ancestor,
            (int(c) for _, c in self.graph.nodes(data="community", default=0)),
            self.ancestor_texts,
        )
        self.heldout = self.corpus.heldout[: scenario.metrics.heldout_texts]
        self.measures = build_suite(
            scenario.metrics, self.corpus, self.ancestor, scenario.seed, len(self.graph)
        )
        self.critics = Critics(self.ancestor, self.tokenizer, self.corpus.train)
        self.curator = Curator(
            self.critics, self.heldout, self.corpus.grammar, self.rng, scenario.curation.labels
        )
        self.shards = Shards(scenario.compute)  # speech and learning: here or on dask
        self.attention: dict[int, float] = {}  # selection: each speaker's listening factor
        for node in sorted(self.graph.nodes):
            community = int(self.graph.nodes[node].get("community", 0))
            lm = self.ancestor_for(community).clone()
            data = self.ancestor_texts(self.corpus_for(community))
            Speaker(self, self.space[node], lm, community, data)
        self.latest: dict[str, Any] = {}
        self.phase_seconds: Counter[str] = Counter()  # wall seconds per stage (bench)
        self.event_log: list[dict[str, Any]] = []
        self._by_id: dict[int, Speaker] = {}
        self.pairs: list[pd.DataFrame] = []
        self.sample_log: list[Sample] = []  # compact until the runner writes them
        self._heard: Counter[tuple[int, int]] = Counter()
        self._kept: Counter[tuple[int, int]] = Counter()
        self.measured: Results | None = None  # the last measured round
        self.datacollector = collector(self.measures)
        with self.phase("speak"):
            self.speak()
        self.measure()

    @property
    def round(self) -> int:
        """The current round (0 before the first step)."""
        return self.steps

    def step(self) -> None:
        """Run one round: events, listen, curate, learn, speak, measure."""
        with self.phase("events"):
            apply_events(self, self.round)
        speakers = list(self.agents)
        with self.phase("listen"):
            self.attention = attention(speakers, self.graph, self.scenario.selection, self.critic)
            self.agents.do("listen", self.attention)
        with self.phase("curate"):
            for agent in speakers:  # keep what passes the filters; count who heard and kept
                self.record_kept(agent.heard, agent.curate(self.curator))
            self.log_samples(final=False)
        with self.phase("learn"):
            self.learn()
        with self.phase("speak"):
            self.speak()
        self.measure()
        self.running = self.round < self.rounds
        if not self.running:  # the last round: no more work for the side process
            self.measures.close()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the wall-clock seconds of the block to ``phase_seconds[name]`` (bench)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phase_seconds[name] += time.perf_counter() - start

    def learn(self) -> None:
        """Every learning agent updates its buffer, then all models learn together."""
        learners = [(agent, agent.training_data()) for agent in self.agents]
        learners = [(agent, data) for agent, data in learners if data is not None]
        self.shards.update([agent.lm for agent, _ in learners], [data for _, data in learners])

    def speak(self) -> None:
        """Every agent says this round's texts; backends that can sample together do."""
        speakers = list(self.agents)
        requests = [agent.speech() for agent in speakers]
        said = self.shards.sample([agent.lm for agent in speakers], requests)
        for agent, texts in zip(speakers, said, strict=True):
            agent.say(texts)

    def measure(self) -> None:
        """Measure agents, pairs and the round (every ``metrics.every`` rounds and the last).

        Every registered measure (``society.metrics.suite``) reads one frozen record of
        the round; their rows become the tables, nothing is written onto the agents.
        """
        if self.round % self.scenario.metrics.every and self.round != self.rounds:
            return
        with self.phase("record"):
            record = self.round_record()
        seconds: dict[str, float] = {}
        self.measured = self.measures.measure(
            record, seconds, wall=True, release_models=self.release_tables
        )
        for name, spent in seconds.items():
            self.phase_seconds[f"measure.{name}"] += spent
        pairs = self.measured.pair_table()
        if pairs is not None:
            self.pairs.append(pairs)
        self.latest = dict(self.measured.round)
        self.datacollector.collect(self)

    def close(self) -> None:
        """Stop what runs beside this process for the society: dask shards, the side process."""
        self.shards.close()
        self.measures.close()

    def release_tables(self) -> None:
        """Drop the lookup tables the agents derived from their own counts until next used.

        Called once the round's measures no longer score with every model: an n-gram
        agent's tables (four fifths of its memory) are derived again, the same, when it
        next speaks or scores, or by its next learning, which derives new ones anyway.
        """
        released = False
        for agent in self.agents:
            release = getattr(agent.lm, "release_tables", None)
            if release is not None:
                released |= release()
        if released:
            trim_heap()  # the tables were small arrays: their pages go back to the system

    def round_record(self) -> RoundRecord:
        """The current round, frozen for the measures."""
        return RoundRecord.of(
            self.round,
            self.rounds,
            [agent_record(agent) for agent in self.agents],
            self.graph,
            self.scenario.metrics.pairs,
            self.scenario.metrics.exact_agents,
            self.scenario.seed,
        )

    def agent_measures(self, unique_id: int) -> Mapping[str, Any]:
        """The agent's row of the last measured round (empty if it was not measured)."""
        return self.measured.agent_row(unique_id) if self.measured is not None else {}

    @cached_property
    def noise_vocabulary(self) -> np.ndarray:
        """What token noise draws from: whole-character tokens of the real training text."""
        return whole_character_tokens(self.tokenizer, self.corpus.train)

    def critic(self) -> LanguageModel:
        """The critic now: with ``curation.critic = "real"`` the n-gram model, else the ancestor."""
        curation = self.scenario.curation
        return self.critics.get(curation.critic, curation.critic_order)

    def speaker(self, unique_id: int) -> Speaker:
        """The agent with this id."""
        by_id = self._by_id
        if len(by_id) != len(self.agents) or unique_id not in by_id:
            by_id = self._by_id = {agent.unique_id: agent for agent in self.agents}
        return by_id[unique_id]

    def corpus_for(self, community: int | None) -> Corpus:
        """The real-data corpus a community starts from (the main corpus unless listed)."""
        return self.sources.by_community.get(community, self.corpus)

    def ancestor_texts(self, corpus: Corpus) -> list[str]:
        """What generation 0 of ``corpus`` learns from (``learning.ancestor_texts``)."""
        budget = ancestor_budget(self.scenario)
        return generation_zero_texts(corpus.train, budget, self.scenario.seed)

    def ancestor_for(self, community: int | None) -> LanguageModel:
        """The generation-0 model of a community (the main ancestor unless listed)."""
        return self.ancestors.get(community, self.ancestor)

    def model_label_for(self, community: int | None) -> str:
        """A short name of the model a community's agents hold (the ``model`` column)."""
        return model_label(table_for(self.scenario.language_model, community))

    def real_texts(self, n: int, *, community: int | None = None) -> list[str]:
        """``n`` real training texts drawn without replacement (never held-out text).

        Args:
            n: how many.
            community: draw from this community's corpus (None: the main corpus).
        """
        if n <= 0:
            return []
        train = self.corpus_for(community).train
        idx = self.rng.choice(len(train), size=min(n, len(train)), replace=False)
        return [train[i] for i in idx]

    def real_prompts(self, n: int, *, community: int | None = None) -> list[str]:
        """``n`` prompts: the first words of real training texts (of ``community``'s corpus)."""
        words = self.scenario.speech.prefix_tokens
        return [" ".join(t.split()[:words]) for t in self.real_texts(n, community=community)]

    def record_kept(self, heard: list[tuple[int, int]], keep: np.ndarray) -> None:
        """Count, per utterance, how many listeners drew it and how many kept it."""
        if len(heard) != len(keep):
            raise ValueError(f"{len(keep)} curation flags for {len(heard)} texts heard")
        flags = keep.tolist() if isinstance(keep, np.ndarray) else list(keep)
        self._heard.update(source for source in heard if source[0] >= 0)
        self._kept.update(s for s, kept in zip(heard, flags, strict=True) if kept and s[0] >= 0)

    def log_samples(self, final: bool) -> None:
        """Append the current utterances to ``sample_log`` with their heard/kept counts.

        Utterances of round t are heard in round t+1, so they are logged then; the last
        round's utterances are logged with ``final=True`` and no counts.
        """
        said_in = self.round - 1 if not final else self.round
        measured = self.measured
        ancestor = (
            measured.utterances_by_agent(UTTERANCES)
            if measured is not None and measured.measured_round == said_in
            else {}
        )
        append, heard, kept = self.sample_log.append, self._heard.get, self._kept.get
        for agent in self.agents:
            who = agent.unique_id
            scores = ancestor.get(who, ())
            for i, text in enumerate(agent.utterances):
                score = scores[i] if i < len(scores) else None
                if final:
                    append((said_in, who, text, None, None, score))  # in samples.FIELDS order
                else:
                    append((said_in, who, text, heard((who, i), 0), kept((who, i), 0), score))
        self._heard.clear()
        self._kept.clear()

    def pop_samples(self) -> SampleRows:
        """Return and forget the logged samples, one dict each (the runner streams them)."""
        out, self.sample_log = self.sample_log, []
        return SampleRows(out)

    def agent_table(self) -> pd.DataFrame:
        """One row per (round, agent), tidy."""
        df = self.datacollector.get_agent_vars_dataframe().reset_index()
        df = df.rename(columns={"Step": "round", "AgentID": "agent"})
        return df

    def round_table(self) -> pd.DataFrame:
        """One row per measured round."""
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def pair_table(self) -> pd.DataFrame:
        """One row per (round, agent_i, agent_j)."""
        return pd.concat(self.pairs, ignore_index=True) if self.pairs else pd.DataFrame()
