"""Self-BLEU (Zhu et al. 2018, Texygen): how much an agent's texts repeat one another.

Each chosen text is a hypothesis scored by sentence BLEU-4 against *all the other* texts as
references; self-BLEU is the mean. 1 means every text is reproduced by another, 0 means
no shared n-grams at all; higher self-BLEU = less diverse output.

BLEU here is the standard sentence BLEU (Papineni et al. 2002) as computed by NLTK's
``sentence_bleu`` with ``SmoothingFunction().method1`` (the Texygen setting): modified
(clipped) n-gram precisions for n = 1..4 with uniform weights, zero matches replaced by
``epsilon / total`` (epsilon = 0.1), and the brevity penalty against the reference length
closest to the hypothesis length (the shorter on ties). Clipping uses the largest count of
each n-gram in any single other text, found from each n-gram's two largest per-text
counts, so the cost is linear in the number of n-grams rather than quadratic in texts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from society.metrics.divergence import ngram_count_matrices

MAX_N = 4
EPSILON = 0.1


def _closest_length(length: int, others: np.ndarray) -> int:
    """The reference length closest to ``length`` (the shorter one on ties)."""
    i = int(np.searchsorted(others, length))
    candidates = [others[k] for k in (i - 1, i) if 0 <= k < len(others)]
    return int(min(candidates, key=lambda r: (abs(r - length), r)))


def self_bleu(
    token_lists: Sequence[Sequence[str]],
    hypotheses: Sequence[int] | None = None,
    max_n: int = MAX_N,
) -> float:
    """Mean sentence BLEU of chosen texts against all the other texts.

    Args:
        token_lists: the tokenised texts (e.g. one agent's utterances of a round).
        hypotheses: indices of the texts to score (default: all); a random subsample keeps
            the cost down while every text still serves as a reference.
        max_n: highest n-gram order (4 for BLEU-4).

    Returns:
        Self-BLEU in [0, 1]; NaN with fewer than two texts. An empty hypothesis scores 0.
    """
    n_texts = len(token_lists)
    if n_texts < 2:
        return float("nan")
    chosen = np.arange(n_texts) if hypotheses is None else np.asarray(hypotheses, dtype=int)
    if not len(chosen):
        return float("nan")
    docs = [[tokens] for tokens in token_lists]  # one "document" per text
    lengths = np.array([len(t) for t in token_lists])
    log_precision = np.zeros(len(chosen))
    for counts in ngram_count_matrices(docs, range(1, max_n + 1)):
        matched = _clipped_matches(counts.tocsc(), chosen)
        total = np.maximum(1.0, np.asarray(counts.sum(axis=1)).ravel()[chosen])
        log_precision += np.log(np.where(matched > 0, matched, EPSILON) / total)
    scores = np.zeros(len(chosen))
    for k, h in enumerate(chosen):
        c = int(lengths[h])
        if c == 0:
            continue
        r = _closest_length(c, np.sort(np.delete(lengths, h)))
        brevity = 1.0 if c > r else math.exp(1 - r / c)
        scores[k] = brevity * math.exp(log_precision[k] / max_n)
    return float(scores.mean())


def _clipped_matches(counts: sparse.csc_matrix, chosen: np.ndarray) -> np.ndarray:
    """Per chosen text: sum over its n-grams of min(count, largest count in another text)."""
    counts.sort_indices()
    data, rows, indptr = counts.data, counts.indices, counts.indptr
    n_cols = counts.shape[1]
    column = np.repeat(np.arange(n_cols), np.diff(indptr))
    # largest count per column, the row holding it (first), and the second largest
    order = np.lexsort((-data, column))  # by column, then count descending
    first = indptr[:-1]
    best = np.zeros(n_cols)
    best_row = np.full(n_cols, -1)
    second = np.zeros(n_cols)
    has = np.diff(indptr) > 0
    best[has] = data[order[first[has]]]
    best_row[has] = rows[order[first[has]]]
    two = np.diff(indptr) > 1
    second[two] = data[order[first[two] + 1]]
    position = np.full(counts.shape[0], -1)
    position[chosen] = np.arange(len(chosen))
    mine = position[rows] >= 0
    other = np.where(best_row[column[mine]] == rows[mine], second[column[mine]], best[column[mine]])
    clipped = np.minimum(data[mine], other)
    return np.bincount(position[rows[mine]], weights=clipped, minlength=len(chosen))
