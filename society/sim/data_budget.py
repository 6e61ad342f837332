"""Equal data budgets: how many real texts generation 0 learns from.

With ``learning.ancestor_texts = "all"`` the ancestor learns from the whole training split,
while every later generation learns from one round's texts, so part of any drift is only a
drop in data size. ``"generation"`` gives the ancestor the same budget as one generation
(``listening.texts``, else ``speech.utterances``), the design of Shumailov et al. (2024);
a number sets the budget. The texts are a seeded choice from a generator of its own,
derived from the scenario's seed, so the society's random stream is not disturbed.
"""

from __future__ import annotations

import numpy as np

from society.config import Scenario

STREAM = 0x5EED_A0C3
"""Mixed with the scenario seed to derive the ancestor's own generator."""


def ancestor_budget(scenario: Scenario) -> int | None:
    """Real texts generation 0 learns from (``None``: the whole training split)."""
    budget = scenario.learning.ancestor_texts
    if budget == "all":
        return None
    if budget == "generation":
        return scenario.listening.texts or scenario.speech.utterances
    return int(budget)


def generation_zero_texts(train: list[str], budget: int | None, seed: int) -> list[str]:
    """The texts generation 0 learns from: ``budget`` of ``train``, drawn without replacement.

    Args:
        train: the corpus's training split.
        budget: how many texts (``None`` or at least ``len(train)``: all of them).
        seed: the scenario's seed; the draw uses its own generator derived from it.

    Returns:
        The chosen texts in corpus order (``train`` itself when the budget covers it).
    """
    if budget is None or budget >= len(train):
        return train
    rng = np.random.default_rng([seed, STREAM])
    picked = np.sort(rng.choice(len(train), size=budget, replace=False))
    return [train[i] for i in picked]
