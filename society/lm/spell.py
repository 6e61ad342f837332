"""Token ids to their bytes, end to end, by one compiled pass over a byte table."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def spell(table: np.ndarray, offsets: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The bytes of ``ids``, one token after another.

    Args:
        table: every token's bytes end to end (uint8).
        offsets: where each token id's bytes start in ``table`` (``V + 1``).
        ids: the token ids (each in ``[0, V)``).

    Returns:
        ``table[offsets[i]:offsets[i + 1]]`` of each id, concatenated (uint8).
    """
    size = 0
    for i in ids:
        size += offsets[i + 1] - offsets[i]
    out = np.empty(size, dtype=np.uint8)
    at = 0
    for i in ids:
        for b in range(offsets[i], offsets[i + 1]):
            out[at] = table[b]
            at += 1
    return out
