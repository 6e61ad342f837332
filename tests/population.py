"""Random small societies for comparing the vectorised measures with the per-agent ones."""

from __future__ import annotations

import random

from society.metrics.record import AgentRecord
from tests.records import agent

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "dog",
    "ran",
    "to",
    "a",
    "bird",
    "sang",
    "in",
    "tree",
    "lord's",
    "zzz",
    "qqq",
    "xy",
]


def random_agents(seed: int, n: int = 30, extra: int = 0) -> list[AgentRecord]:
    """``n`` agents saying 0-6 texts of 0-9 words each (some words outside the corpus).

    Args:
        seed: seeds the texts.
        n: agents.
        extra: further made-up words ``n0``, ``n1``, ... to draw from.

    Returns:
        The agents, in three communities, agent ``i`` on node ``i``.
    """
    rng = random.Random(seed)
    words = WORDS + [f"n{k}" for k in range(extra)]
    return [
        agent(
            i,
            [
                " ".join(rng.choice(words) for _ in range(rng.randint(0, 9)))
                for _ in range(rng.randint(0, 6))
            ],
            community=i % 3,
        )
        for i in range(n)
    ]
