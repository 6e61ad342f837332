"""The one deterministic train / held-out split of a corpus."""

from __future__ import annotations

import numpy as np

from society.corpora.core import CorpusError


def split_texts(
    texts: list[str],
    *,
    holdout: float,
    split_seed: int,
    max_texts: int | None = None,
    where: str = "corpus",
) -> tuple[list[str], list[str]]:
    """Shuffle ``texts`` with ``split_seed``, optionally cut them, and split off a held-out part.

    One permutation from ``numpy.random.default_rng(split_seed)`` orders the texts; with
    ``max_texts`` only its first ``max_texts`` are kept (so a smaller subset is a prefix of
    a larger one); the first ``round(holdout * n)`` of those, at least one and leaving at
    least one, are held out. Both parts keep the shuffled order. The result depends only
    on the texts, ``holdout``, ``split_seed`` and ``max_texts``.

    Args:
        texts: cleaned texts in source order.
        holdout: held-out share, in ``[0, 1)``.
        split_seed: seed of the shuffle.
        max_texts: keep at most this many texts (at least 2), or all if None.
        where: the source, for error messages.

    Returns:
        ``(train, heldout)``.

    Raises:
        CorpusError: if the arguments are out of range or fewer than two texts remain.
    """
    if not 0.0 <= holdout < 1.0:
        raise CorpusError(f"{where}: holdout must be in [0, 1), got {holdout}")
    if max_texts is not None and max_texts < 2:
        raise CorpusError(f"{where}: max_texts must be at least 2, got {max_texts}")
    n = len(texts)
    if n < 2:
        noun = "text" if n == 1 else "texts"
        raise CorpusError(f"corpus too small: {where} has {n} {noun}, need at least 2 to split")
    order = np.random.default_rng(split_seed).permutation(n)
    if max_texts is not None:
        order = order[:max_texts]
    m = len(order)
    n_held = min(max(1, round(holdout * m)), m - 1)
    heldout = [texts[i] for i in order[:n_held]]
    train = [texts[i] for i in order[n_held:]]
    return train, heldout
