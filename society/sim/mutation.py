"""Mutation: the sources of creative variation in what agents say.

- a temperature schedule over rounds (``[mutation] temperature_schedule``), replacing
  ``speech.temperature`` from its first point on;
- token-level noise: every token of every utterance is, with probability
  ``token_noise``, replaced by a token drawn uniformly from the shared vocabulary, so
  new word forms (neologisms) and new combinations enter the speech.

The n-gram backend's Kneser-Ney discount is a third, implicit source: smoothing lets a
model say sequences it never heard (see ``language_model.discount``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from society.config import Scenario, schedule_value
from society.lm.tokenizer import SharedTokenizer
from society.lm.utf8 import ACCEPT


def temperature_at(scenario: Scenario, round_: int) -> float:
    """The sampling temperature of round ``round_``."""
    mutation = scenario.mutation
    return schedule_value(
        mutation.temperature_schedule, round_, scenario.speech.temperature, mutation.interpolate
    )


def token_noise(
    texts: Sequence[str],
    rate: float,
    tokenizer: SharedTokenizer,
    rng: np.random.Generator,
    vocabulary: np.ndarray,
) -> list[str]:
    """Replace each token with probability ``rate`` by one drawn uniformly from ``vocabulary``.

    Args:
        texts: utterances.
        rate: per-token substitution probability (0 returns ``texts`` and draws nothing).
        tokenizer: the run's shared tokenizer.
        rng: the society's generator.
        vocabulary: the token ids to draw from (:func:`whole_character_tokens`).

    Returns:
        The mutated utterances.
    """
    if rate <= 0 or not texts:
        return list(texts)
    ids = tokenizer.encode_batch(list(texts))
    lengths = [len(a) for a in ids]
    flat = np.concatenate(ids).astype(np.int64) if sum(lengths) else np.zeros(0, np.int64)
    hit = rng.random(len(flat)) < rate
    flat[hit] = vocabulary[rng.integers(0, len(vocabulary), size=int(hit.sum()))]
    pieces = np.split(flat, np.cumsum(lengths)[:-1])
    return tokenizer.decode_batch(pieces)


def whole_character_tokens(tokenizer: SharedTokenizer, texts: Sequence[str]) -> np.ndarray:
    """Token ids that ``texts`` use and whose bytes are whole UTF-8 characters.

    A byte-level token holding part of a multi-byte character spells nothing on its own:
    substituted alone, it would decode to nothing (a deletion, not a new form). The
    society's noise draws from these tokens of its real training text
    (``Society.noise_vocabulary``).
    """
    ids = tokenizer.encode_batch(list(texts))
    used = np.unique(np.concatenate(ids)) if ids else np.zeros(0, np.int64)
    spelled = np.array([tokenizer.pieces[i] is not None for i in used], dtype=bool)
    # from a character boundary back to one: the token's bytes are whole characters
    return used[spelled & (tokenizer.utf8.next[ACCEPT, used] == ACCEPT)]
