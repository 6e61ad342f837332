"""Array helpers of the n-gram model, shared by its per-agent and population paths."""

from __future__ import annotations

import numpy as np

MIN_COUNT = 1e-3
"""n-gram counts decayed below this by ``memory`` are dropped (keeps tables bounded)."""

_TINY = 1e-300


def _exclusive_cumsum(x: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x) + 1, dtype=np.int64)
    np.cumsum(x, out=out[1:])
    return out


def _segments(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ranges ``starts[i] : starts[i] + lengths[i]``.

    Returns:
        The range number of each flat element and the flat indices.
    """
    offsets = _exclusive_cumsum(lengths)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    flat = np.arange(offsets[-1], dtype=np.int64) + np.repeat(starts - offsets[:-1], lengths)
    return rows, flat


def _segment_max(values: np.ndarray, offsets: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Per-row maximum of ``values`` (grouped by row pointers ``offsets``) and ``initial``."""
    out = initial.copy()
    nonempty = offsets[1:] > offsets[:-1]
    if nonempty.any():
        reduced = np.maximum.reduceat(values, offsets[:-1][nonempty])
        out[nonempty] = np.maximum(out[nonempty], reduced)
    return out


def _lex_keys(rows: np.ndarray, base: int) -> np.ndarray:
    """Integer keys whose order is the lexicographic order of the rows of ``rows``.

    Keys are only comparable within one call (wide n-grams are ranked column by column).
    """
    n_cols = rows.shape[1]
    key = rows[:, 0].astype(np.int64)
    direct = base**n_cols < 2**62
    for j in range(1, n_cols):
        if not direct:
            key = np.unique(key, return_inverse=True)[1].astype(np.int64)
        key = key * base + rows[:, j]
    return key


def _snap(counts: np.ndarray) -> np.ndarray:
    """Round float counts to 1e-9 so equal counts summed in different orders tie exactly.

    Exact ties matter: tokens with equal counts must get equal probabilities for the
    nucleus (top-p) to keep or drop them together.
    """
    return np.round(counts, 9)
