"""The utterance log between rounds: one tuple per utterance, read back as dicts.

A round of 10,000 agents logs a million utterances before the runner writes them; as
dicts they would hold about 300 MB during the next round's measures, as tuples about
110 MB. ``SampleRows`` gives them back as the dicts the run directory's
``samples.jsonl`` lines are made of, a slice at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

#: The fields of a sample, in the order of its JSON line.
FIELDS = ("round", "agent", "text", "heard", "kept", "ancestor_ppl")

Sample = tuple[int, int, str, int | None, int | None, float | None]


class SampleRows(Sequence[dict[str, Any]]):
    """Logged samples (tuples in :data:`FIELDS` order), read as one dict per utterance."""

    def __init__(self, rows: list[Sample]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [dict(zip(FIELDS, row, strict=True)) for row in self._rows[index]]
        return dict(zip(FIELDS, self._rows[index], strict=True))
