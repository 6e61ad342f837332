"""What an agent keeps of what it heard: deduplication and length filters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from society.config import CurationConfig


def curate(texts: Sequence[str], config: CurationConfig) -> np.ndarray:
    """Return a boolean mask of the texts to keep.

    Args:
        texts: what the agent heard this round, in order.
        config: the scenario's ``[curation]`` table.

    Returns:
        ``keep[i]`` is True when ``texts[i]`` passes every filter.
    """
    lengths = np.array([len(t.split()) for t in texts], dtype=np.int64)
    keep = lengths >= config.min_words
    if config.max_words is not None:
        keep &= lengths <= config.max_words
    if config.dedup:
        seen: set[str] = set()
        for i, text in enumerate(texts):
            if text in seen:
                keep[i] = False
            seen.add(text)
    return keep
