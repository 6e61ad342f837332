"""Compiled pieces of the pairwise Jensen-Shannon divergence over sparse probability rows.

``divergence._pairs_jsd`` needs, for each pair of rows ``(i, j)``, the entries of the
mixture ``M = (P_i + P_j) / 2`` and the sum of ``m log2 m`` over them. SciPy builds the
mixture by gathering both rows into new matrices and adding them (three copies of the
pairs' entries); here one pass merges each pair's two sorted rows straight into one buffer
(:func:`mixtures`), NumPy takes the logarithms of the whole buffer, and :func:`row_sums`
adds each pair's terms left to right. Values, their order and the order of every sum are
those of the SciPy path (``(a + b) * 0.5`` where both rows hold a column, ``a * 0.5``
where one does; ``np.bincount``'s sequential sums), so the divergences are the same bit
for bit (tested).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def mixtures(
    indptr: np.ndarray, data: np.ndarray, indices: np.ndarray, left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The mixture entries of each pair of rows of a CSR matrix with sorted indices.

    Args:
        indptr: the matrix's row pointers.
        data: its values (positive).
        indices: its column indices, sorted within each row, no duplicates.
        left: the first row of each pair.
        right: the second row of each pair.

    Returns:
        ``(values, ends)``: the entries of pair ``k``'s mixture, in column order, are
        ``values[ends[k - 1]:ends[k]]`` (``ends[-1]`` for ``k = 0`` reads as 0).
    """
    size = 0
    for k in range(len(left)):
        i, j = left[k], right[k]
        size += indptr[i + 1] - indptr[i] + indptr[j + 1] - indptr[j]
    values = np.empty(size)
    ends = np.empty(len(left), dtype=np.int64)
    at = 0
    for k in range(len(left)):
        a, a_end = indptr[left[k]], indptr[left[k] + 1]
        b, b_end = indptr[right[k]], indptr[right[k] + 1]
        while a < a_end and b < b_end:
            if indices[a] == indices[b]:
                values[at] = (data[a] + data[b]) * 0.5
                a += 1
                b += 1
            elif indices[a] < indices[b]:
                values[at] = data[a] * 0.5
                a += 1
            else:
                values[at] = data[b] * 0.5
                b += 1
            at += 1
        while a < a_end:
            values[at] = data[a] * 0.5
            a += 1
            at += 1
        while b < b_end:
            values[at] = data[b] * 0.5
            b += 1
            at += 1
        ends[k] = at
    return values[:at], ends


@njit(cache=True)
def row_sums(values: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Each segment's sum, added left to right (``np.bincount``'s order)."""
    out = np.zeros(len(ends))
    start = 0
    for k in range(len(ends)):
        total = 0.0
        for at in range(start, ends[k]):
            total += values[at]
        out[k] = total
        start = ends[k]
    return out
