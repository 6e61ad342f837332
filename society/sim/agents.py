"""Speaker: one language-model agent sitting on a node of the society's network."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import FixedAgent

from society.lm.base import LanguageModel
from society.lm.request import SpeechRequest
from society.sim.curation import Curator, real_fraction
from society.sim.mutation import temperature_at, token_noise
from society.sim.world import World

if TYPE_CHECKING:
    from mesa.discrete_space import Cell


class Speaker(FixedAgent):
    """An agent that speaks, listens to its neighbours, keeps what passes its filters, learns.

    The agent reads its society through :class:`~society.sim.world.World`; the round's
    selection factors and curator come as arguments of :meth:`listen` and :meth:`curate`.

    Args:
        model: the society.
        cell: the network cell (node) the agent sits on.
        lm: the agent's language model (any backend).
        community: the community label of its node.
        data: the agent's initial training data (round 0 of its buffer).
    """

    model: World

    def __init__(
        self, model: World, cell: Cell, lm: LanguageModel, community: int, data: list[str]
    ) -> None:
        super().__init__(model)
        self.cell = cell
        self.lm = lm
        self.community = community
        self.model_from = community  # whose language-model table built `lm`
        self.learning = True
        self.utterances: list[str] = []
        self.heard: list[tuple[int, int]] = []  # (speaker id, utterance index); -1 = real text
        self.heard_texts: list[str] = []
        self.kept: list[str] = []
        self.kept_from: list[int] = []  # speaker id of each kept text (-1 = real text)
        self.buffer: deque[list[str]] = deque([data], maxlen=self._buffer_rounds())

    @property
    def model_label(self) -> str:
        """A short name of the agent's model (the agents table's ``model`` column).

        The model of the community that built it (``model_from``): an agent that migrates
        keeps its model until it starts again from its new community's ancestor.
        """
        return self.model.model_label_for(self.model_from)

    @property
    def node(self) -> int:
        """The graph node the agent sits on."""
        return self.cell.coordinate

    def _buffer_rounds(self) -> int | None:
        learning = self.model.scenario.learning
        return {"replace": 1, "accumulate": None, "window": learning.window}[learning.data]

    def speech(self) -> SpeechRequest:
        """The round's sampling request, for ``LanguageModel.sample``.

        Draws the prompts and the seed of the agent's own generator from the model's random
        stream, so what an agent says does not depend on how the backend schedules the
        sampling (one agent after another, in threads, or stacked in one batch).
        """
        model, speech = self.model, self.model.scenario.speech
        prompts = None
        if speech.prompt != "none":
            prompts = model.real_prompts(speech.utterances, community=self.community)
        return SpeechRequest(
            speech.utterances,
            rng=np.random.default_rng(int(model.rng.integers(2**63 - 1))),
            max_tokens=speech.max_tokens,
            temperature=temperature_at(model.scenario, model.round),
            top_p=speech.top_p,
            prompts=prompts,
            top_k=speech.top_k,
            min_p=speech.min_p,
            repetition_penalty=speech.repetition_penalty,
        )

    def say(self, texts: list[str]) -> None:
        """Take ``texts`` as this round's utterances, after token noise (mutation)."""
        model, rate = self.model, self.model.scenario.mutation.token_noise
        if rate > 0:
            texts = token_noise(texts, rate, model.tokenizer, model.rng, model.noise_vocabulary)
        self.utterances = texts

    def speak(self) -> None:
        """Sample and say this round's utterances alone (the society samples all at once)."""
        self.say(self.lm.sample(self.speech()))

    def sources(self, attention: Mapping[int, float]) -> list[tuple[Speaker, float]]:
        """Who this agent listens to: edge weight times the speaker's selection factor.

        Args:
            attention: each speaker's selection factor (``selection.attention``; missing: 1).
        """
        graph = self.model.graph
        out = [
            (
                agent,
                float(graph.edges[self.node, agent.node].get("weight", 1.0))
                * attention.get(agent.unique_id, 1.0),
            )
            for agent in self.cell.neighborhood.agents
        ]
        listening = self.model.scenario.listening
        if listening.include_self:
            out.append((self, listening.self_weight))
        return out

    def listen(self, attention: Mapping[int, float]) -> None:
        """Gather this round's training text: neighbours' utterances (by weight) plus real text.

        Args:
            attention: each speaker's selection factor this round (empty: none).
        """
        scenario = self.model.scenario
        total = scenario.listening.texts or scenario.speech.utterances
        n_real = int(round(real_fraction(scenario.real_data, self.model.round) * total))
        candidates: list[tuple[int, int]] = []
        texts: list[str] = []
        weights: list[float] = []
        for agent, weight in self.sources(attention):
            count = len(agent.utterances)
            candidates.extend((agent.unique_id, i) for i in range(count))
            texts.extend(agent.utterances)
            weights.extend([weight / max(count, 1)] * count)
        p = np.asarray(weights, dtype=float)
        n_generated = min(total - n_real, int(np.count_nonzero(p)))
        rng = self.model.rng
        picked: list[int] = []  # indices into candidates and texts
        if n_generated > 0:
            idx = rng.choice(len(candidates), size=n_generated, replace=False, p=p / p.sum())
            picked = np.sort(idx).tolist()
        real = self.model.real_texts(n_real, community=self.community)
        self.heard = [candidates[i] for i in picked] + [(-1, i) for i in range(len(real))]
        self.heard_texts = [texts[i] for i in picked] + real

    def curate(self, curator: Curator) -> np.ndarray:
        """Keep what passes the scenario's ``[curation]`` filters.

        Args:
            curator: the society's curator.

        Returns:
            ``keep[i]``: whether the agent kept ``heard_texts[i]``.
        """
        keep = curator.mask(self.heard_texts, self.model.scenario.curation, listener=self.lm)
        self.kept = [t for t, k in zip(self.heard_texts, keep, strict=True) if k]
        self.kept_from = [s for (s, _), k in zip(self.heard, keep, strict=True) if k]
        return keep

    def training_data(self) -> list[str] | None:
        """Update the data buffer and return what the model learns from this round.

        With ``learning.init = "ancestor"`` the model starts again from its community's
        generation 0 first. None when the agent does not learn this round (committed, or it
        kept nothing).
        """
        if not self.learning or not self.kept:
            return None
        self.buffer.append(self.kept)
        data = [text for texts in self.buffer for text in texts]
        if self.model.scenario.learning.init == "ancestor":
            self.restart()
        return data

    def learn(self) -> None:
        """Update the data buffer, then the model alone (the society updates all at once)."""
        data = self.training_data()
        if data is not None:
            self.lm.update(data)

    def restart(self) -> None:
        """Start again from generation 0 of the agent's community (and its kind of model)."""
        self.lm = self.model.ancestor_for(self.community).clone()
        self.model_from = self.community
