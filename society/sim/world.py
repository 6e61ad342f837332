"""World: what an agent reads from the society it lives in (``Society`` provides it).

A :class:`~society.sim.agents.Speaker` reads its society only through these members, so
``agents.py`` does not depend on ``model.py``; the round's stage objects (the selection
factors, the curator) are handed to its phases by ``Society.step``.
"""

from __future__ import annotations

from typing import Protocol

import networkx as nx
import numpy as np

from society.config import Scenario
from society.lm.base import LanguageModel
from society.lm.tokenizer import SharedTokenizer


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
