"""Talk to an evolved agent: continue a prompt with it and, beside it, with the ancestor.

``society talk RUN --agent ID [--versus ID2] [--round R] [--prompt TEXT]`` rebuilds both
models (the agent and the ancestor, or with ``--versus`` a second agent, e.g. one of
another dialect) from the run directory's checkpoints (``society.run.checkpoints``; any
backend), samples continuations of the prompt from each with the same random stream,
and prints them side by side with how surprising each model finds the prompt (its
perplexity per token).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.markup import escape
from rich.table import Table

from society.lm.base import LanguageModel, perplexity
from society.lm.request import SpeechRequest
from society.run.checkpoints import (
    available_rounds,
    load_agent,
    load_ancestor,
    run_scenario_config,
)


@dataclass
class Reply:
    """One model's answer to a prompt."""

    speaker: str
    continuations: list[str]
    prompt_perplexity: float


@dataclass
class Conversation:
    """An evolved agent and the ancestor it descends from, ready to continue prompts.

    Attributes:
        agent_id: the agent's ``unique_id``.
        round: the checkpointed round the agent was taken from.
        agent: the agent's model after that round.
        ancestor: the run's generation-0 model.
        max_tokens: default continuation length (the run's ``speech.max_tokens``).
        temperature: default sampling temperature (the run's ``speech.temperature``).
        top_p: default nucleus mass (the run's ``speech.top_p``).
        versus_id: a second agent to answer beside the first instead of the ancestor.
        versus: that agent's model (same round).
    """

    agent_id: int
    round: int
    agent: LanguageModel
    ancestor: LanguageModel
    max_tokens: int = 40
    temperature: float = 1.0
    top_p: float = 1.0
    versus_id: int | None = None
    versus: LanguageModel | None = None

    def speakers(self) -> list[tuple[str, LanguageModel]]:
        """The two models that answer: the agent, then the second agent or the ancestor."""
        first = (f"agent {self.agent_id}, round {self.round}", self.agent)
        if self.versus is not None:
            return [first, (f"agent {self.versus_id}, round {self.round}", self.versus)]
        return [first, ("ancestor, round 0", self.ancestor)]

    def reply(
        self,
        prompt: str,
        *,
        samples: int = 3,
        seed: int = 0,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> tuple[Reply, Reply]:
        """Continue ``prompt`` with the agent and with the ancestor (or the second agent).

        Both models draw from a generator seeded with ``seed``, so with the same seed the
        two answers differ only because the models do.

        Args:
            prompt: the text to continue (may be empty: free speech).
            samples: continuations per model.
            seed: seeds the sampling.
            max_tokens: continuation length (default: the run's).
            temperature: sampling temperature (default: the run's).

        Returns:
            The agent's reply and the ancestor's (or the second agent's).
        """
        prompts = [prompt] * samples if prompt.strip() else None
        out = []
        for name, lm in self.speakers():
            request = SpeechRequest(
                samples,
                rng=np.random.default_rng(seed),
                max_tokens=max_tokens or self.max_tokens,
                temperature=temperature or self.temperature,
                top_p=self.top_p,
                prompts=prompts,
            )
            texts = lm.sample(request)
            out.append(Reply(name, texts, prompt_perplexity(lm, prompt)))
        return out[0], out[1]


def prompt_perplexity(lm: LanguageModel, prompt: str) -> float:
    """Perplexity per token of ``prompt`` under ``lm`` (NaN for an empty prompt)."""
    if not prompt.strip():
        return float("nan")
    loglik, tokens = lm.score([prompt])
    return perplexity(loglik, tokens)


def open_conversation(
    run_dir: Path, agent_id: int, round_: int | None = None, versus: int | None = None
) -> Conversation:
    """Load an agent (default: its latest checkpoint) and the ancestor from a run directory.

    Args:
        run_dir: the run directory.
        agent_id: the agent.
        round_: the checkpointed round (default: the latest).
        versus: a second agent (same round) to compare with instead of the ancestor.

    Raises:
        CheckpointError: not a run directory, or no such checkpoint / round / agent.
    """
    scenario = run_scenario_config(run_dir)
    agent = load_agent(run_dir, agent_id, round_)
    speech = scenario.speech
    return Conversation(
        agent_id=agent_id,
        round=available_rounds(run_dir)[-1] if round_ is None else int(round_),
        agent=agent,
        ancestor=load_ancestor(run_dir),
        max_tokens=speech.max_tokens,
        temperature=speech.temperature,
        top_p=speech.top_p,
        versus_id=versus,
        versus=None if versus is None else load_agent(run_dir, versus, round_),
    )


def reply_table(prompt: str, replies: tuple[Reply, Reply]) -> Table:
    """The two replies side by side (one row per sample), prompt perplexities in headers."""
    title = f"prompt: {prompt!r}" if prompt.strip() else "no prompt (free speech)"
    table = Table(title=title, show_lines=True, title_justify="left")
    for reply in replies:
        surprise = (
            f"\nprompt perplexity {reply.prompt_perplexity:.1f}"
            if np.isfinite(reply.prompt_perplexity)
            else ""
        )
        table.add_column(reply.speaker + surprise, ratio=1, overflow="fold")
    for row in zip(*(r.continuations for r in replies), strict=True):
        table.add_row(*(f"{escape(prompt)} [bold]{escape(text)}[/bold]".strip() for text in row))
    return table


def prompts_from(read: Callable[[], str]) -> Iterator[str]:
    """Prompts typed interactively, until end of input or a line ``quit``/``exit``.

    Args:
        read: returns the next line (raises ``EOFError`` at the end), e.g. ``input``.
    """
    while True:
        try:
            line = read()
        except (EOFError, KeyboardInterrupt):
            return
        if line.strip().lower() in {"quit", "exit"}:
            return
        yield line.strip()
