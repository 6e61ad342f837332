"""Compiled pre-tokenisation of ASCII texts and a table of each piece's BPE ids (numba).

``ascii_encoder.SPLIT`` cut by hand, a byte at a time: at each position the first of its
alternatives that matches, as ``re.findall`` takes them (the pieces tile the text).
Pieces are looked up in an open-addressing table keyed by their bytes (FNV-1a hash,
bytes compared on a hit), whose values are spans of one pool of ids. What the table lacks
is encoded by the library's BPE model in Python (``AsciiEncoder``) and inserted.
"""

from __future__ import annotations

import numpy as np
from numba import njit

WHITESPACE, LETTER, DIGIT, OTHER = 0, 1, 2, 3
SPACE, APOSTROPHE = 32, 39


def byte_classes() -> np.ndarray:
    """Class of each ASCII byte as ``SPLIT`` sees it (whitespace: tab to CR, and space)."""
    classes = np.full(128, OTHER, dtype=np.uint8)
    classes[[9, 10, 11, 12, 13, SPACE]] = WHITESPACE
    classes[ord("a") : ord("z") + 1] = LETTER
    classes[ord("A") : ord("Z") + 1] = LETTER
    classes[ord("0") : ord("9") + 1] = DIGIT
    return classes


@njit(cache=True)
def _run(buf: np.ndarray, at: int, end: int, classes: np.ndarray, kind: int) -> int:
    while at < end and classes[buf[at]] == kind:
        at += 1
    return at


@njit(cache=True)
def _piece_end(buf: np.ndarray, i: int, end: int, classes: np.ndarray) -> int:
    """Where the piece starting at ``i`` ends (``SPLIT``'s first matching alternative)."""
    c = buf[i]
    if c == APOSTROPHE and i + 1 < end:  # 's 't 'm 'd, then 're 've 'll
        d = buf[i + 1]
        if d == 115 or d == 116 or d == 109 or d == 100:
            return i + 2
        if i + 2 < end:
            e = buf[i + 2]
            if (d == 114 and e == 101) or (d == 118 and e == 101) or (d == 108 and e == 108):
                return i + 3
    kind = classes[c]
    if c == SPACE and i + 1 < end:  # " ?[A-Za-z]+", " ?[0-9]+", " ?[^\s A-Za-z0-9]+"
        after = classes[buf[i + 1]]
        if after != WHITESPACE:
            return _run(buf, i + 1, end, classes, after)
    if kind != WHITESPACE:
        return _run(buf, i, end, classes, kind)
    j = _run(buf, i + 1, end, classes, WHITESPACE)  # "\s+(?!\S)", else "\s+"
    if j == end or j - i == 1:
        return j
    return j - 1


@njit(cache=True)
def split_pieces(
    buf: np.ndarray, bounds: np.ndarray, classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every piece's ``(start, end)`` in ``buf``; text ``t`` is ``buf[bounds[t]:bounds[t + 1]]``.

    Returns:
        ``starts`` (pieces in text order; a piece ends where the next starts, or at its
        text's end) and ``firsts`` (``len(bounds)`` entries: text ``t``'s pieces are
        ``firsts[t]:firsts[t + 1]``).
    """
    starts = np.empty(len(buf), dtype=np.int64)
    firsts = np.empty(len(bounds), dtype=np.int64)
    k = 0
    for t in range(len(bounds) - 1):
        firsts[t] = k
        i, end = bounds[t], bounds[t + 1]
        while i < end:
            starts[k] = i
            k += 1
            i = _piece_end(buf, i, end, classes)
    firsts[len(bounds) - 1] = k
    return starts[:k], firsts


@njit(cache=True)
def _hash(buf: np.ndarray, start: int, stop: int) -> np.uint64:
    h = np.uint64(14695981039346656037)
    for i in range(start, stop):
        h = (h ^ np.uint64(buf[i])) * np.uint64(1099511628211)
    return h


@njit(cache=True)
def _find(
    buf: np.ndarray, start: int, stop: int, slots: np.ndarray, pool: np.ndarray,
    offsets: np.ndarray,
) -> int:  # fmt: skip
    """The slot holding the piece ``buf[start:stop]``, or the empty slot where it would go."""
    mask = np.int64(len(slots) - 1)
    s = np.int64(_hash(buf, start, stop) & np.uint64(mask))
    size = stop - start
    while True:
        piece = slots[s]
        if piece < 0:
            return s
        lo = offsets[piece]
        if offsets[piece + 1] - lo == size:
            same = True
            for i in range(size):
                if pool[lo + i] != buf[start + i]:
                    same = False
                    break
            if same:
                return s
        s = (s + 1) & mask


@njit(cache=True)
def look_up(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, slots: np.ndarray,
    pool: np.ndarray, offsets: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Each piece's number in the table, or -1 where the table lacks it."""
    found = np.empty(len(starts), dtype=np.int64)
    for k in range(len(starts)):
        found[k] = slots[_find(buf, starts[k], ends[k], slots, pool, offsets)]
    return found


@njit(cache=True)
def add_missing(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, found: np.ndarray,
    slots: np.ndarray, pool: np.ndarray, offsets: np.ndarray, count: int,
) -> int:  # fmt: skip
    """Number every piece ``found`` marks -1, adding each distinct one to the table.

    Its bytes go to ``pool`` (which must have room). Returns the new piece count.
    """
    for k in range(len(starts)):
        if found[k] >= 0:
            continue
        s = _find(buf, starts[k], ends[k], slots, pool, offsets)
        if slots[s] < 0:
            lo = offsets[count]
            size = ends[k] - starts[k]
            pool[lo : lo + size] = buf[starts[k] : ends[k]]
            offsets[count + 1] = lo + size
            slots[s] = count
            count += 1
        found[k] = slots[s]
    return count


@njit(cache=True)
def rehash(slots: np.ndarray, pool: np.ndarray, offsets: np.ndarray, count: int) -> None:
    """Put pieces ``0 .. count - 1`` into the empty ``slots`` (after the table grew)."""
    for piece in range(count):
        lo, hi = offsets[piece], offsets[piece + 1]
        slots[_find(pool, lo, hi, slots, pool, offsets)] = piece


@njit(cache=True)
def gather(
    found: np.ndarray, firsts: np.ndarray, id_offsets: np.ndarray, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The texts' ids end to end (int32) and where each text's start (``len(firsts)``)."""
    bounds = np.empty(len(firsts), dtype=np.int64)
    total = 0
    for t in range(len(firsts) - 1):
        bounds[t] = total
        for k in range(firsts[t], firsts[t + 1]):
            total += id_offsets[found[k] + 1] - id_offsets[found[k]]
    bounds[len(firsts) - 1] = total
    out = np.empty(total, dtype=np.int32)
    at = 0
    for k in range(len(found)):
        lo, hi = id_offsets[found[k]], id_offsets[found[k] + 1]
        out[at : at + hi - lo] = ids[lo:hi]
        at += hi - lo
    return out, bounds
