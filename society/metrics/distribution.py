"""The shape of a word-frequency distribution: Zipf exponent, tail mass, coverage.

Pure functions over word counts; they know nothing of agents or Mesa.

- ``zipf_exponent``: maximum-likelihood ``s`` of ``p(rank) = rank^-s / H(N, s)`` over the
  observed ranks ``1..N`` (N = number of word types), the discrete rank-frequency Zipf
  law; ``H(N, s)`` is the generalised harmonic number.
- ``tail_words`` / ``tail_mass``: the real corpus's rare words (those past the head that
  holds ``1 - share`` of its tokens) and the share of a sample's tokens that fall on them.
  Model collapse shows as tail mass shrinking relative to round 0 (Dohmatob et al. 2024).
- ``coverage``: the share of a reference vocabulary (e.g. held-out real text) a sample uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
from scipy.optimize import minimize_scalar

#: Search interval for the Zipf exponent.
S_BOUNDS = (1e-3, 10.0)


def zipf_exponent(counts: Iterable[int] | Mapping[str, int]) -> float:
    """Maximum-likelihood Zipf exponent of a sample's rank-frequency distribution.

    Word types are ranked by frequency (rank 1 = most frequent); the log-likelihood of
    the sample is ``-s * sum_i f_i log i - n log H(N, s)`` with ``f_i`` the count of the
    i-th ranked type and ``n`` the number of tokens; it is maximised over ``s`` in
    ``S_BOUNDS`` (bounded Brent search).

    Args:
        counts: the count of each word type (a mapping or the counts alone).

    Returns:
        The exponent ``s`` (about 1 for natural text); NaN with fewer than two types.
    """
    values = counts.values() if isinstance(counts, Mapping) else counts
    return zipf_fit(np.sort(np.asarray([c for c in values if c > 0], dtype=float))[::-1])


def zipf_fit(f: np.ndarray) -> float:
    """``zipf_exponent`` of positive counts already sorted from the largest down.

    Args:
        f: the counts (float), largest first.

    Returns:
        The exponent; NaN with fewer than two types.
    """
    if len(f) < 2:
        return float("nan")
    log_rank = np.log(np.arange(1, len(f) + 1))
    weighted, n = float(f @ log_rank), float(f.sum())

    def negative_log_likelihood(s: float) -> float:
        log_h = np.logaddexp.reduce(-s * log_rank)
        return s * weighted + n * log_h

    result = minimize_scalar(
        negative_log_likelihood, bounds=S_BOUNDS, method="bounded", options={"xatol": 1e-6}
    )
    return float(result.x)


def tail_words(real_counts: Mapping[str, int], share: float = 0.1) -> frozenset[str]:
    """The rare words of a real corpus: everything past the head holding ``1 - share``.

    Words are ranked by count (ties broken alphabetically, so the set is deterministic);
    the head is the shortest prefix of the ranking whose tokens reach ``1 - share`` of all
    tokens; the tail is the rest (its mass is at most ``share``).

    Args:
        real_counts: word counts of the real (training) corpus.
        share: the most token mass the tail may hold, in (0, 1).

    Returns:
        The tail's word types.

    Raises:
        ValueError: if ``share`` is not in (0, 1).
    """
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share}")
    ranked = sorted(real_counts.items(), key=lambda item: (-item[1], item[0]))
    total = sum(c for _, c in ranked)
    if not total:
        return frozenset()
    cumulative = np.cumsum([c for _, c in ranked]) / total
    head = int(np.searchsorted(cumulative, 1 - share - 1e-12)) + 1
    return frozenset(w for w, _ in ranked[head:])


def tail_mass(counts: Mapping[str, int], tail: frozenset[str] | set[str]) -> float:
    """Share of a sample's word tokens that are tail words.

    Args:
        counts: word counts of the sample (e.g. one agent's utterances).
        tail: the rare words (see ``tail_words``).

    Returns:
        A share in [0, 1]; NaN when the sample has no words.
    """
    total = sum(counts.values())
    if not total:
        return float("nan")
    return sum(c for w, c in counts.items() if w in tail) / total


def coverage(types: Iterable[str], vocabulary: frozenset[str] | set[str]) -> float:
    """Share of ``vocabulary`` that occurs among ``types``.

    Args:
        types: the word types used (e.g. one agent's vocabulary this round).
        vocabulary: the reference vocabulary (e.g. held-out real text's word types).

    Returns:
        ``|types & vocabulary| / |vocabulary|``; NaN for an empty vocabulary.
    """
    if not vocabulary:
        return float("nan")
    return len(set(types) & vocabulary) / len(vocabulary)


def rank_frequency(counts: Mapping[str, int] | Counter[str]) -> np.ndarray:
    """Relative frequencies sorted from the most frequent type down (for plots)."""
    f = np.sort(np.asarray(list(counts.values()), dtype=float))[::-1]
    return f / f.sum() if f.sum() else f
