"""Naming-game measures: how a community uses competing variants of one expression.

Pure functions over texts (words as in ``society.metrics.text.words``). A convention is a
set of rival variants, e.g. ``("man", "bloke")``; a committed minority that says
"bloke" has overturned the convention when that variant dominates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from society.metrics.text import words


def variant_counts(texts: Iterable[str], variants: Sequence[str]) -> Counter[str]:
    """How often each variant (a single lowercase word) is used in ``texts``."""
    wanted = {v.lower() for v in variants}
    counts: Counter[str] = Counter({v.lower(): 0 for v in variants})
    counts.update(w for text in texts for w in words(text) if w in wanted)
    return counts


def variant_share(texts: Iterable[str], variant: str, variants: Sequence[str]) -> float:
    """Share of uses of ``variant`` among all uses of ``variants`` (NaN when none is used).

    Args:
        texts: the speech measured.
        variant: the variant of interest (e.g. the committed minority's).
        variants: all rival variants (``variant`` included or not).

    Returns:
        A share in [0, 1] or NaN.
    """
    counts = variant_counts(texts, [*variants, variant])
    total = sum(counts.values())
    return counts[variant.lower()] / total if total else float("nan")
