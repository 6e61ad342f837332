"""Texts to packed rows of token ids for causal language models (numpy only).

Every text becomes one document ``[EOS] tokens [EOS]``: the leading end-of-text id is the
GPT-2 start symbol, the trailing one is predicted, so a model learns where texts end. A
document longer than the context is cut into windows. Documents are packed into rows of
exactly ``context`` positions (best-fit decreasing, so rows are nearly full); a row
carries, per position, the input id, the target id (``IGNORE`` where nothing is
predicted), the position id (restarting at 0 for each document) and a document number,
from which the attention mask is built, so that a token only sees earlier tokens of its
own document. Packed training is thus exactly per-text training, without the padding a
batch of unequal texts needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

IGNORE = -100
"""Target id that is not predicted (``torch.nn.functional.cross_entropy`` default)."""


@dataclass(frozen=True)
class Packed:
    """Packed rows: ``(rows, context)`` arrays plus the text each scored target belongs to.

    Attributes:
        inputs: input token ids.
        targets: next-token ids, ``IGNORE`` where nothing is scored.
        positions: position ids (0 at each document's first token).
        docs: document number of each position (-1 for padding).
        owner: index of the text that each position's target belongs to (-1 if none).
    """

    inputs: np.ndarray
    targets: np.ndarray
    positions: np.ndarray
    docs: np.ndarray
    owner: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    def take(self, rows: np.ndarray) -> Packed:
        """The packed subset of ``rows``."""
        return Packed(*(a[rows] for a in self.as_tuple()))

    def as_tuple(self) -> tuple[np.ndarray, ...]:
        """``(inputs, targets, positions, docs, owner)``."""
        return self.inputs, self.targets, self.positions, self.docs, self.owner


def windows(ids: np.ndarray, context: int, stride: int) -> list[tuple[np.ndarray, int]]:
    """Cut one document ``[EOS] tokens [EOS]`` into model inputs of at most ``context``.

    Args:
        ids: the document's ids, both end-of-text ids included.
        context: the model's maximum number of positions.
        stride: how far consecutive windows start apart (``context`` for training without
            overlap; less for scoring, so later tokens keep some earlier context).

    Returns:
        ``(window ids, first scored target)`` pairs: a window of ``k + 1`` ids gives ``k``
        inputs and ``k`` targets, of which those from the given index on are scored (each
        target is scored in exactly one window).
    """
    n_targets = len(ids) - 1
    if n_targets <= context:
        return [(ids, 0)]
    out, start, scored = [], 0, 0
    while scored < n_targets:
        stop = min(start + context, n_targets)
        out.append((ids[start : stop + 1], scored - start))
        scored = stop
        start = max(min(start + stride, n_targets - context), 0)
    return out


def best_fit(sizes: Sequence[int], capacity: int) -> list[list[int]]:
    """Best-fit decreasing bin packing: few rows, each filled as far as it goes.

    Items are placed longest first, each into the row whose free space it fills most
    tightly (a new row if none has room). Rows are kept in buckets by free space, so one
    placement costs at most ``capacity`` steps.

    Args:
        sizes: item sizes, each at most ``capacity``.
        capacity: row size.

    Returns:
        Item indices per row, rows in order of creation.
    """
    rows: list[list[int]] = []
    free: list[list[int]] = [[] for _ in range(capacity + 1)]  # free space -> row numbers
    for item in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        need = sizes[item]
        room = next((c for c in range(need, capacity + 1) if free[c]), None)
        if room is None:
            rows.append([])
            row, room = len(rows) - 1, capacity
        else:
            row = free[room].pop()
        rows[row].append(item)
        free[room - need].append(row)
    return rows


def pack(
    documents: Sequence[np.ndarray],
    context: int,
    *,
    stride: int | None = None,
    pad_id: int = 0,
) -> Packed:
    """Pack documents (ids with both end-of-text ids) into rows of ``context`` (best fit).

    Args:
        documents: one id array per text, as made by :func:`documents`.
        context: positions per row.
        stride: window stride for long documents (default ``context``: no overlap).
        pad_id: input id of padding positions (never attended to, never scored).

    Returns:
        The packed rows (at least one row, empty rows only if there are no documents).
    """
    stride = stride or context
    pieces: list[tuple[np.ndarray, int, int]] = []
    for owner, ids in enumerate(documents):
        pieces.extend((w, first, owner) for w, first in windows(np.asarray(ids), context, stride))
    rows = best_fit([len(piece[0]) - 1 for piece in pieces], context)
    rows = [[pieces[i] for i in row] for row in rows]
    shape = (len(rows), context)
    inputs = np.full(shape, pad_id, dtype=np.int64)
    targets = np.full(shape, IGNORE, dtype=np.int64)
    positions = np.zeros(shape, dtype=np.int64)
    docs = np.full(shape, -1, dtype=np.int64)
    owner = np.full(shape, -1, dtype=np.int64)
    doc = 0
    for r, row in enumerate(rows):
        at = 0
        for ids, first, who in row:
            k = len(ids) - 1
            span = slice(at, at + k)
            inputs[r, span] = ids[:-1]
            scored = np.asarray(ids[1:], dtype=np.int64).copy()
            scored[:first] = IGNORE
            targets[r, span] = scored
            positions[r, span] = np.arange(k)
            docs[r, span] = doc
            owner[r, at + first : at + k] = who
            at += k
            doc += 1
    return Packed(inputs, targets, positions, docs, owner)


def documents(token_ids: Sequence[np.ndarray], eos_id: int) -> list[np.ndarray]:
    """Wrap each text's token ids as ``[EOS] ids [EOS]``."""
    eos = np.array([eos_id], dtype=np.int64)
    return [np.concatenate([eos, np.asarray(t, dtype=np.int64), eos]) for t in token_ids]
