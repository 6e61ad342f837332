"""Measures that ask the models themselves, for any backend (through ``score``).

* **Ancestor perplexity quantiles**: the generation-0 model's perplexity of each of an
  agent's utterances (Shumailov et al. 2024, Fig. 1 histograms) summarised per agent and
  round as quantiles; the per-utterance values are the ``ancestor_ppl`` field of
  ``samples.jsonl`` (scored by ``metrics.suite``).
* **Cross-entropy divergence** between agents i and j: with ``H[i, j]`` the cross-entropy
  (nats per token) of agent i's model on a subsample of agent j's utterances,

      D_ij = ((H[i, j] - H[j, j]) + (H[j, i] - H[i, i])) / 2,

  how much worse each model predicts the other's speech than the other's own model does.
  It estimates the symmetrised KL divergence between the two models' distributions
  (exactly so if each agent spoke from its model and H[j, j] were its entropy), so it sees
  differences in syntax and long contexts that n-gram JSD misses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from society.config import MetricsConfig
    from society.sim.agents import Speaker

QUANTILES = (0.1, 0.5, 0.9)
QUANTILE_COLUMNS = tuple(f"ancestor_ppl_q{int(q * 100)}" for q in QUANTILES)
PAIR_COLUMN = "cross_entropy_div"
_PURPOSE = 7919


def ancestor_quantiles(agent: Speaker, round_: int) -> dict[str, float]:
    """Quantiles of the ancestor's per-utterance perplexities of ``agent`` this round.

    Reads ``agent.ancestor_scores = (round, [perplexity or None, ...])`` left by the
    measurement suite; NaN when the agent was not scored this round.
    """
    scored_in, values = getattr(agent, "ancestor_scores", (None, []))
    finite = np.asarray([v for v in values if v is not None], dtype=float)
    finite = finite[np.isfinite(finite)]
    if scored_in != round_ or not len(finite):
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


def chosen_agents(
    speakers: Sequence[Speaker], config: MetricsConfig, round_: int, seed: int
) -> list[int]:
    """Positions of the agents measured (all up to ``cross_agents``, else a seeded sample)."""
    n = len(speakers)
    if config.cross_texts == 0 or config.cross_agents < 2 or n < 2:
        return []
    if n <= config.cross_agents:
        return list(range(n))
    rng = np.random.default_rng([seed, round_, _PURPOSE])
    return sorted(rng.choice(n, size=config.cross_agents, replace=False).tolist())


def cross_entropy_pairs(
    speakers: Sequence[Speaker],
    pairs: pd.DataFrame | None,
    config: MetricsConfig,
    round_: int,
    seed: int,
) -> pd.DataFrame | None:
    """Add the ``cross_entropy_div`` column to the pair table (NaN for pairs not measured).

    Args:
        speakers: the agents, in the pair table's order.
        pairs: the pair table (``agent_i``, ``agent_j`` ids), or None.
        config: ``[metrics]`` (``cross_texts`` per agent, at most ``cross_agents`` agents).
        round_: the round (with ``seed``, fixes the subsamples).
        seed: the scenario seed.

    Returns:
        The same table with the column added (None stays None).
    """
    if pairs is None:
        return None
    pairs[PAIR_COLUMN] = np.nan
    chosen = chosen_agents(speakers, config, round_, seed)
    if not chosen or not len(pairs):
        return pairs
    texts = []
    for k in chosen:
        said = speakers[k].utterances
        rng = np.random.default_rng([seed, round_, _PURPOSE, speakers[k].unique_id])
        picks = rng.choice(len(said), size=min(config.cross_texts, len(said)), replace=False)
        texts.append([said[p] for p in sorted(picks.tolist())])
    divergence = symmetric_divergence(cross_entropy_matrix([speakers[k].lm for k in chosen], texts))
    index = {speakers[k].unique_id: row for row, k in enumerate(chosen)}
    rows = pairs["agent_i"].map(index).to_numpy(dtype=float)
    cols = pairs["agent_j"].map(index).to_numpy(dtype=float)
    known = ~(np.isnan(rows) | np.isnan(cols))
    values = np.full(len(pairs), np.nan)
    values[known] = divergence[rows[known].astype(int), cols[known].astype(int)]
    pairs[PAIR_COLUMN] = values
    return pairs


def model_measures(
    speakers: Sequence[Speaker],
    pairs: pd.DataFrame | None,
    config: MetricsConfig,
    round_: int,
    seed: int,
) -> pd.DataFrame | None:
    """Add ancestor-perplexity quantiles to each agent's metrics and D_ij to the pairs.

    Returns:
        The pair table with ``cross_entropy_div`` (None stays None).
    """
    for agent in speakers:
        agent.metrics.update(ancestor_quantiles(agent, round_))
    return cross_entropy_pairs(speakers, pairs, config, round_, seed)
