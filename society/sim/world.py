"""World: what an agent reads from the society it lives in (``Society`` provides it).

A :class:`~society.sim.agents.Speaker` reads its society only through these members, so
``agents.py`` does not depend on ``model.py``; the round's stage objects (the selection
factors, the curator) are handed to its phases by ``Society.step``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import networkx as nx
import numpy as np
from mesa.agent import AgentSet
from mesa.discrete_space import Network

from society.config import Scenario
from society.corpora import Corpus
from society.lm.base import LanguageModel
from society.lm.tokenizer import SharedTokenizer
from society.sim.curation import Curator


class World(Protocol):
    """The society as its agents see it: read-only, except that draws advance ``rng``.

    The object is also the ``mesa.Model`` the agent registers with.
    """

    scenario: Scenario  # as it is now: read at every phase, so ``set`` events apply
    rng: np.random.Generator  # the society's one random stream
    graph: nx.Graph  # the network (edge weights)
    tokenizer: SharedTokenizer
    noise_vocabulary: np.ndarray  # token ids that token noise draws from

    @property
    def round(self) -> int:
        """The current round (0 before the first step)."""
        ...

    def real_texts(self, n: int, *, community: int | None = None) -> list[str]:
        """``n`` real training texts of ``community``'s corpus (drawn from ``rng``)."""
        ...

    def real_prompts(self, n: int, *, community: int | None = None) -> list[str]:
        """``n`` prompts: the first words of real training texts (drawn from ``rng``)."""
        ...

    def ancestor_for(self, community: int | None) -> LanguageModel:
        """The generation-0 model of a community."""
        ...

    def model_label_for(self, community: int | None) -> str:
        """A short name of the model a community's agents hold."""
        ...


class Editable(World, Protocol):
    """The society as events see it: the world plus what an event may edit.

    Events change the society (its graph through the Mesa ``space``, its agents, its
    scenario), so they get more than agents do; ``sim/events.py`` is typed against this
    protocol rather than ``Society``, which calls it, so the two modules do not import
    each other.
    """

    scenario: Scenario  # events of action ``set`` replace it
    space: Network  # every graph edit goes through the space, so cells and graph agree
    agents: AgentSet  # Mesa's set of the society's agents
    attention: Mapping[int, float]  # this round's selection factors (for newcomers)
    curator: Curator  # the society's curation (for newcomers)
    event_log: list[dict[str, Any]]  # what was applied, with what it did

    def corpus_for(self, community: int | None) -> Corpus:
        """The real-data corpus a community starts from."""
        ...

    def ancestor_texts(self, corpus: Corpus) -> list[str]:
        """What generation 0 of ``corpus`` learns from (``learning.ancestor_texts``)."""
        ...

    def record_kept(self, heard: list[tuple[int, int]], keep: np.ndarray) -> None:
        """Count, per utterance, how many listeners drew it and how many kept it."""
        ...
