"""The shape of a word-frequency distribution: Zipf exponent, tail mass, coverage.

Pure functions over word counts; they know nothing of agents or Mesa.

- ``zipf_exponent``: maximum-likelihood ``s`` of ``p(rank) = rank^-s / H(N, s)`` over the
  observed ranks ``1..N`` (N = number of word types), the discrete rank-frequency Zipf
  law; ``H(N, s)`` is the generalised harmonic number.
- ``tail_words`` / ``tail_mass``: the real corpus's rare words (those past the head that
  holds ``1 - share`` of its tokens) and the share of a sample's tokens that fall on them.
  Model collapse shows as tail mass shrinking relative to round 0 (Dohmatob et al. 2024).
- ``coverage``: the share of a reference vocabulary (e.g. held-out real text) a sample uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
from scipy.optimize import minimize_scalar

#: Search interval for the Zipf exponent.
S_BOUNDS = (1e-3, 10.0)


def zipf_exponent(counts: Iterable[int] | Mapping[str, int]) -> float:
    """Maximum-likelihood Zipf exponent of a sample's rank-frequency distribution.

    Word types are ranked by frequency (rank 1 = most frequent); the log-likelihood of
    the sample is ``-s * sum_i f_i log i - n log H(N, s)`` with ``f_i`` the count of the
    i-th ranked type and ``n`` the number of tokens; it is maximised over ``s`` in
    ``S_BOUNDS`` (bounded Brent search).

    Args:
        counts: the count of each word type (a mapping or the counts alone).

    Returns:
        The exponent ``s`` (about 1 for natural text); NaN with fewer than two types.
    """
    values = counts.values() if isinstance(counts, Mapping) else counts
    return zipf_fit(np.sort(np.asarray([c for c in values if c > 0], dtype=float))[::-1])


def zipf_fit(f: np.ndarray) -> float:
    """``zipf_exponent`` of positive counts already sorted from the largest down.

    Args:
        f: the counts (float), largest first.

    Returns:
        The exponent; NaN with fewer than two types.
    """
    if len(f) < 2:
        return float("nan")
    log_rank = np.log(np.arange(1, len(f) + 1))
    weighted, n = float(f @ log_rank), float(f.sum())

    def negative_log_likelihood(s: float) -> float:
        log_h = np.logaddexp.reduce(-s * log_rank)
        return s * weighted + n * log_h

    result = minimize_scalar(
        negative_log_likelihood, bounds=S_BOUNDS, method="bounded", options={"xatol": 1e-6}
    )
    return float(result.x)


def tail_words(real_counts: Mapping[str, int], share: float = 0.1) -> frozenset[str]:
    """The rare words of a real corpus: everything past the head holding ``1 - share``.

    Words are ranked by count (ties broken alphabetically, so the set is deterministic);
    the head is the shortest prefix of the ranking whose tokens reach ``1 - share`` of all
    tokens; the tail is the rest (its mass is at most ``share``).

    Args:
        real_counts: word counts of the real (training) corpus.
        share: the most token mass the tail may hold, in (0, 1).

    Returns:
        The tail's word types.

    Raises:
        ValueError: if ``share`` is not in (0, 1).
    """
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share}")
    ranked = sorted(real_counts.items(), key=lambda item: (-item[1], item[0]))
    total = sum(c for _, c in ranked)
    if not total:
        return frozenset()
    cumulative = np.cumsum([c for _, c in ranked]) / total
    head = int(np.searchsorted(cumulative, 1 - share - 1e-12)) + 1
    return frozenset(w for w, _ in ranked[head:])


def tail_mass(counts: Mapping[str, int], tail: frozenset[str] | set[str]) -> float:
    """Share of a sample's word tokens that are tail words.

    Args:
        counts: word counts of the sample (e.g. one agent's utterances).
        tail: the rare words (see ``tail_words``).

    Returns:
        A share in [0, 1]; NaN when the sample has no words.
    """
    total = sum(counts.values())
    if not total:
        return float("nan")
    return sum(c for w, c in counts.items() if w in tail) / total


def coverage(types: Iterable[str], vocabulary: frozenset[str] | set[str]) -> float:
    """Share of ``vocabulary`` that occurs among ``types``.

    Args:
        types: the word types used (e.g. one agent's vocabulary this round).
        vocabulary: the reference vocabulary (e.g. held-out real text's word types).

    Returns:
        ``|types & vocabulary| / |vocabulary|``; NaN for an empty vocabulary.
    """
    if not vocabulary:
        return float("nan")
    return len(set(types) & vocabulary) / len(vocabulary)


def rank_frequency(counts: Mapping[str, int] | Counter[str]) -> np.ndarray:
    """Relative frequencies sorted from the most frequent type down (for plots)."""
    f = np.sort(np.asarray(list(counts.values()), dtype=float))[::-1]
    return f / f.sum() if f.sum() else f


#: Padded cells (agents x word types) one ``zipf_exponents`` batch holds at most.
ZIPF_CHUNK_CELLS = 4_000_000

#: Samples (of similar length) fitted together.
ZIPF_BATCH = 128


def zipf_exponents(ranked: list[np.ndarray]) -> np.ndarray:
    """``zipf_fit`` of many samples at once, bit for bit the same numbers.

    SciPy's bounded Brent search (``minimize_scalar(method="bounded")``, ``xatol`` 1e-6) is
    run on all samples together: the same steps as the scalar code, each a masked array
    operation, and the log-likelihood of every sample from one ``logaddexp.reduce`` over a
    padded matrix (padding adds ``-inf``, which leaves ``logaddexp`` unchanged).

    Args:
        ranked: per sample, its positive counts, in any order.

    Returns:
        One exponent per sample (NaN with fewer than two types).
    """
    # sorted exactly as zipf_exponent sorts (a reversed view: the dot product's
    # summation order, hence its last bit, depends on the memory layout)
    ranked = [np.sort(np.asarray(f, dtype=float))[::-1] for f in ranked]
    out = np.full(len(ranked), np.nan)
    fit = sorted((k for k, f in enumerate(ranked) if len(f) >= 2), key=lambda k: len(ranked[k]))
    lo = 0
    while lo < len(fit):  # samples of similar length together: little padding
        hi = min(lo + ZIPF_BATCH, len(fit))
        while hi - lo > 1 and (hi - lo) * len(ranked[fit[hi - 1]]) > ZIPF_CHUNK_CELLS:
            hi = lo + (hi - lo) // 2
        part = fit[lo:hi]
        out[part] = _brent_bounded([ranked[k] for k in part])
        lo = hi
    return out


def _brent_bounded(ranked: list[np.ndarray], xatol: float = 1e-6, maxiter: int = 500):
    """SciPy's ``_minimize_scalar_bounded`` on ``S_BOUNDS``, vectorised over samples."""
    width = max(len(f) for f in ranked)
    log_rank = np.full((len(ranked), width), np.inf)
    weighted, tokens = np.empty(len(ranked)), np.empty(len(ranked))
    for k, f in enumerate(ranked):  # one dot product each, as zipf_fit computes it
        own = np.log(np.arange(1, len(f) + 1))
        log_rank[k, : len(f)] = own
        weighted[k], tokens[k] = float(f @ own), float(f.sum())

    def func(s: np.ndarray, rows: np.ndarray) -> np.ndarray:
        log_h = np.logaddexp.reduce(-s[:, None] * log_rank[rows], axis=1)
        return s * weighted[rows] + tokens[rows] * log_h

    n = len(ranked)
    sqrt_eps = np.sqrt(2.2e-16)
    golden_mean = 0.5 * (3.0 - np.sqrt(5.0))
    a, b = np.full(n, S_BOUNDS[0]), np.full(n, S_BOUNDS[1])
    fulc = a + golden_mean * (b - a)
    nfc, xf = fulc.copy(), fulc.copy()
    rat, e = np.zeros(n), np.zeros(n)
    fx = func(xf, np.arange(n))
    num = np.ones(n, dtype=np.int64)
    ffulc, fnfc = fx.copy(), fx.copy()
    xm = 0.5 * (a + b)
    tol1 = sqrt_eps * np.abs(xf) + xatol / 3.0
    tol2 = 2.0 * tol1
    live = np.ones(n, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        while True:
            live &= np.abs(xf - xm) > (tol2 - 0.5 * (b - a))
            rows = np.flatnonzero(live)
            if not len(rows):
                break
            a_, b_, xf_, xm_, fx_, e_, rat_ = (
                a[rows],
                b[rows],
                xf[rows],
                xm[rows],
                fx[rows],
                e[rows],
                rat[rows],
            )
            nfc_, fulc_, fnfc_, ffulc_ = nfc[rows], fulc[rows], fnfc[rows], ffulc[rows]
            tol1_, tol2_ = tol1[rows], tol2[rows]
            try_parabola = np.abs(e_) > tol1_
            r = (xf_ - nfc_) * (fx_ - ffulc_)
            q = (xf_ - fulc_) * (fx_ - fnfc_)
            p = (xf_ - fulc_) * q - (xf_ - nfc_) * r
            q = 2.0 * (q - r)
            p = np.where(q > 0.0, -p, p)
            q = np.abs(q)
            parabola = (
                try_parabola
                & (np.abs(p) < np.abs(0.5 * q * e_))
                & (p > q * (a_ - xf_))
                & (p < q * (b_ - xf_))
            )
            rat_p = (p + 0.0) / q
            x_p = xf_ + rat_p
            si = np.sign(xm_ - xf_) + ((xm_ - xf_) == 0)
            rat_p = np.where(((x_p - a_) < tol2_) | ((b_ - x_p) < tol2_), tol1_ * si, rat_p)
            e_golden = np.where(xf_ >= xm_, a_ - xf_, b_ - xf_)
            e_next = np.where(parabola, rat_, e_golden)  # the parabola keeps the last step
            rat_next = np.where(parabola, rat_p, golden_mean * e_golden)
            si = np.sign(rat_next) + (rat_next == 0)
            x = xf_ + si * np.maximum(np.abs(rat_next), tol1_)
            fu = func(x, rows)
            better = fu <= fx_
            left = x < xf_
            a[rows] = np.where(better, np.where(~left, xf_, a_), np.where(left, x, a_))
            b[rows] = np.where(better, np.where(left, xf_, b_), np.where(~left, x, b_))
            first = ~better & ((fu <= fnfc_) | (nfc_ == xf_))
            second = ~better & ~first & ((fu <= ffulc_) | (fulc_ == xf_) | (fulc_ == nfc_))
            fulc[rows] = np.where(better | first, nfc_, np.where(second, x, fulc_))
            ffulc[rows] = np.where(better | first, fnfc_, np.where(second, fu, ffulc_))
            nfc[rows] = np.where(better, xf_, np.where(first, x, nfc_))
            fnfc[rows] = np.where(better, fx_, np.where(first, fu, fnfc_))
            xf[rows] = np.where(better, x, xf_)
            fx[rows] = np.where(better, fu, fx_)
            e[rows], rat[rows] = e_next, rat_next
            xm[rows] = 0.5 * (a[rows] + b[rows])
            tol1[rows] = sqrt_eps * np.abs(xf[rows]) + xatol / 3.0
            tol2[rows] = 2.0 * tol1[rows]
            num[rows] += 1
            live &= num < maxiter
    return xf
