"""The utterance log between rounds: one tuple per utterance, read back as dicts.

A round of 10,000 agents logs a million utterances before the runner writes them; as
dicts they would hold about 300 MB during the next round's measures, as tuples about
110 MB. ``SampleRows`` gives them back as the dicts the run directory's
``samples.jsonl`` lines are made of, a slice at a time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, overload

#: json's own string escaper (its C version when built), as ``ensure_ascii=False`` uses it.
_quote = json.encoder.encode_basestring
_encode = json.JSONEncoder(ensure_ascii=False).encode

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

    def json_lines(self, start: int, stop: int) -> str:
        """Rows ``start:stop`` as JSON lines, each what ``json`` writes for the row's dict.

        Rows of the logged types are formatted directly (about six times faster than the
        encoder on a million utterances); any other row goes through ``json``
        (``tests/test_samples_log.py`` compares the two).
        """
        return "".join(map(_line, self._rows[start:stop]))


def _line(row: Sample) -> str:
    """One sample's JSON line (``json.JSONEncoder(ensure_ascii=False)`` of its dict)."""
    said, agent, text, heard, kept, ppl = row
    if (
        type(said) is int
        and type(agent) is int
        and type(text) is str
        and (heard is None or type(heard) is int)
        and (kept is None or type(kept) is int)
        and (ppl is None or (type(ppl) is float and math.isfinite(ppl)))
    ):
        return (
            f'{{"round": {said}, "agent": {agent}, "text": {_quote(text)}, '
            f'"heard": {"null" if heard is None else heard}, '
            f'"kept": {"null" if kept is None else kept}, '
            f'"ancestor_ppl": {"null" if ppl is None else float.__repr__(ppl)}}}\n'
        )
    return _encode(dict(zip(FIELDS, row, strict=True))) + "\n"
