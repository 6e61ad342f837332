"""Measures that ask the models themselves, for any backend (through ``score``).

* **Ancestor perplexity quantiles**: the generation-0 model's perplexity of each of an
  agent's utterances (Shumailov et al. 2024, Fig. 1 histograms) summarised per agent and
  round as quantiles; the per-utterance values are also the ``ancestor_ppl`` field of
  ``samples.jsonl`` (``measures.ancestor``).
* **Cross-entropy divergence** between agents i and j: with ``H[i, j]`` the cross-entropy
  (nats per token) of agent i's model on a subsample of agent j's utterances,

      D_ij = ((H[i, j] - H[j, j]) + (H[j, i] - H[i, i])) / 2,

  how much worse each model predicts the other's speech than the other's own model does.
  It estimates the symmetrised KL divergence between the two models' distributions
  (exactly so if each agent spoke from its model and H[j, j] were its entropy), so it sees
  differences in syntax and long contexts that n-gram JSD misses (``measures.pairs``).

Pure functions over models (anything with ``score``) and texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from society.lm.base import score_many

if TYPE_CHECKING:
    from society.config import MetricsConfig
    from society.metrics.record import Scorer

QUANTILES = (0.1, 0.5, 0.9)
QUANTILE_COLUMNS = tuple(f"ancestor_ppl_q{int(q * 100)}" for q in QUANTILES)
PAIR_COLUMN = "cross_entropy_div"
SCORE_TEXTS = 10_000
"""Texts per ``score`` call of :func:`grouped_perplexities` (bounds its peak memory)."""
PURPOSE = 7919
"""Seeds the cross-entropy subsamples: ``(seed, round, PURPOSE[, agent id])``."""


def perplexities(lm: Scorer, texts: Sequence[str]) -> tuple[float, list[float | None]]:
    """Corpus perplexity of ``texts`` under ``lm`` and each text's own perplexity.

    Args:
        lm: the scoring model.
        texts: the texts.

    Returns:
        The corpus perplexity (NaN without tokens) and one perplexity per text (None
        where a text has no scored token).
    """
    if not texts:
        return float("nan"), []
    loglik, tokens = lm.score(list(texts))
    return _summarise(np.asarray(loglik, dtype=float), np.asarray(tokens, dtype=float))


def grouped_perplexities(
    lm: Scorer, groups: Sequence[Sequence[str]]
) -> list[tuple[float, list[float | None]]]:
    """``perplexities(lm, group)`` for each group, groups scored together.

    The same numbers as one call per group where the model scores each text alone
    (``scores_texts_alone``, the n-gram model): whole groups are scored in calls of about
    :data:`SCORE_TEXTS` texts (a bounded peak memory, not a call per agent). Other models
    (padded batches) keep one call per group so that their numbers do not move.
    """
    if not getattr(lm, "scores_texts_alone", False):
        return [perplexities(lm, group) for group in groups]
    out: list[tuple[float, list[float | None]]] = []
    batch: list[Sequence[str]] = []
    size = 0
    for group in groups:
        if batch and size + len(group) > SCORE_TEXTS:
            out.extend(_score_groups(lm, batch))
            batch, size = [], 0
        batch.append(group)
        size += len(group)
    return out + _score_groups(lm, batch) if batch else out


def _score_groups(
    lm: Scorer, groups: list[Sequence[str]]
) -> list[tuple[float, list[float | None]]]:
    """``perplexities`` of each group from one ``score`` call over all their texts."""
    flat = [text for group in groups for text in group]
    if not flat:
        return [perplexities(lm, group) for group in groups]
    loglik, tokens = score_many([lm], [flat])[0]  # the backend's compiled path, if it has one
    loglik, tokens = np.asarray(loglik, dtype=float), np.asarray(tokens, dtype=float)
    bounds = np.cumsum([0, *(len(group) for group in groups)])
    return [
        _summarise(loglik[start:stop], tokens[start:stop]) if stop > start else (float("nan"), [])
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def _summarise(loglik: np.ndarray, tokens: np.ndarray) -> tuple[float, list[float | None]]:
    """Corpus and per-text perplexity from per-text log-likelihoods and token counts."""
    each = np.exp(-np.divide(loglik, tokens, out=np.full_like(loglik, np.nan), where=tokens > 0))
    total = tokens.sum()
    per_text = [float(x) if np.isfinite(x) else None for x in each]
    return (float(np.exp(-loglik.sum() / total)) if total else float("nan")), per_text


def ancestor_quantiles(values: Sequence[float | None]) -> dict[str, float]:
    """Quantiles (``QUANTILES``) of per-utterance perplexities, Nones and infinities dropped.

    Args:
        values: one agent's per-utterance perplexities this round.

    Returns:
        ``QUANTILE_COLUMNS``; NaN when no value is finite.
    """
    finite = np.asarray([v for v in values if v is not None], dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return dict.fromkeys(QUANTILE_COLUMNS, float("nan"))
    return dict(zip(QUANTILE_COLUMNS, np.quantile(finite, QUANTILES).tolist(), strict=True))


def cross_entropy_matrix(models: Sequence, texts: Sequence[Sequence[str]]) -> np.ndarray:
    """``H[i, j]``: cross-entropy (nats/token) of ``models[i]`` on ``texts[j]``.

    Each model scores every agent's texts in one ``score`` call.
    """
    owner = np.repeat(np.arange(len(texts)), [len(t) for t in texts])
    flat = [text for group in texts for text in group]
    n = len(texts)
    out = np.full((len(models), n), np.nan)
    if not flat:
        return out
    for i, lm in enumerate(models):
        loglik, tokens = lm.score(flat)
        total_ll = np.bincount(owner, weights=np.asarray(loglik, dtype=float), minlength=n)
        total_tok = np.bincount(owner, weights=np.asarray(tokens, dtype=float), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(total_tok > 0, -total_ll / total_tok, np.nan)
    return out


def symmetric_divergence(cross: np.ndarray) -> np.ndarray:
    """``D`` from a square ``H``: ``((H - diag[None, :]) + (H - diag[None, :]).T) / 2``."""
    excess = cross - np.diag(cross)[None, :]
    return (excess + excess.T) / 2


def chosen_agents(n: int, config: MetricsConfig, round_: int, seed: int) -> list[int]:
    """Positions of the agents measured (all up to ``cross_agents``, else a seeded sample).

    Args:
        n: the number of agents.
        config: ``[metrics]`` (``cross_texts``, ``cross_agents``).
        round_: the round (with ``seed``, fixes the sample).
        seed: the scenario seed.

    Returns:
        Sorted positions; none when the measure is off or there are fewer than two agents.
    """
    if config.cross_texts == 0 or config.cross_agents < 2 or n < 2:
        return []
    if n <= config.cross_agents:
        return list(range(n))
    rng = np.random.default_rng([seed, round_, PURPOSE])
    return sorted(rng.choice(n, size=config.cross_agents, replace=False).tolist())
