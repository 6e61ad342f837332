"""Two-sample statistics for experiment verdicts: effect sizes, bootstrap CIs, tests, Holm.

Every function takes two samples ``x`` (condition A) and ``y`` (condition B), one value per
run (seed). Effects are oriented as A minus B: a positive mean difference or Cliff's delta
means A tends to be larger. Alternatives follow scipy: ``"greater"`` tests A > B, ``"less"``
A < B, ``"two-sided"`` A != B. Resampling goes through :func:`scipy.stats.bootstrap` and
:func:`scipy.stats.permutation_test` with an explicit generator, so results are repeatable.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from math import comb
from typing import Literal

import numpy as np
from scipy import stats

Alternative = Literal["greater", "less", "two-sided"]
Test = Literal["permutation", "mannwhitney", "bootstrap"]
TESTS: tuple[str, ...] = ("permutation", "mannwhitney", "bootstrap")
RESAMPLES = 9999


def _arrays(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size < 1 or b.size < 1:
        raise ValueError("both samples need at least one value")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("samples must be finite numbers")
    return a, b


def mean_difference_stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vectorised ``mean(x) - mean(y)`` along ``axis`` (scipy resampling convention)."""
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def cliffs_delta_stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vectorised Cliff's delta along ``axis``: mean of sign(x_i - y_j) over all pairs."""
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    return np.sign(x[..., :, None] - y[..., None, :]).mean(axis=(-2, -1))


def welch_t_stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vectorised Welch t statistic (NaN when both samples are constant and equal)."""
    nx, ny = x.shape[axis], y.shape[axis]
    with np.errstate(divide="ignore", invalid="ignore"):
        vx = np.var(x, axis=axis, ddof=1) if nx > 1 else 0.0
        vy = np.var(y, axis=axis, ddof=1) if ny > 1 else 0.0
        return mean_difference_stat(x, y, axis) / np.sqrt(vx / nx + vy / ny)


def mean_difference(x: Sequence[float], y: Sequence[float]) -> float:
    """Difference of means, A minus B."""
    a, b = _arrays(x, y)
    return float(a.mean() - b.mean())


def cliffs_delta(x: Sequence[float], y: Sequence[float]) -> float:
    """Cliff's delta: P(A > B) - P(A < B) over all pairs, in [-1, 1] (0: no dominance).

    Equals ``2 U / (n_x n_y) - 1`` where U is the Mann-Whitney statistic of ``x``.
    """
    a, b = _arrays(x, y)
    return float(cliffs_delta_stat(a, b))


def bootstrap_ci(
    x: Sequence[float],
    y: Sequence[float],
    statistic: Callable[..., np.ndarray],
    *,
    confidence: float = 0.95,
    n_resamples: int = RESAMPLES,
    rng: np.random.Generator | int | None = 0,
) -> tuple[float, float]:
    """Two-sample bootstrap confidence interval (BCa; percentile when BCa is undefined).

    Each sample is resampled independently (:func:`scipy.stats.bootstrap`). BCa needs a
    non-degenerate bootstrap distribution; when every resample gives the same value (for
    example Cliff's delta under complete separation) the percentile interval is returned.

    Args:
        x: condition A.
        y: condition B.
        statistic: a vectorised two-sample statistic taking ``(x, y, axis)``.
        confidence: confidence level.
        n_resamples: bootstrap resamples.
        rng: generator or seed.

    Returns:
        ``(low, high)``; ``(nan, nan)`` when a sample has fewer than two values.
    """
    a, b = _arrays(x, y)
    if a.size < 2 or b.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(rng)
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                (a, b),
                statistic,
                n_resamples=n_resamples,
                vectorized=True,
                confidence_level=confidence,
                method=method,
                rng=rng,
            )
        low, high = result.confidence_interval
        if np.isfinite(low) and np.isfinite(high):
            return float(low), float(high)
    return float("nan"), float("nan")


def permutation_pvalue(
    x: Sequence[float],
    y: Sequence[float],
    alternative: Alternative = "two-sided",
    *,
    n_resamples: int = RESAMPLES,
    rng: np.random.Generator | int | None = 0,
) -> float:
    """Permutation test of the difference in means (exact when few enough arrangements)."""
    a, b = _arrays(x, y)
    result = stats.permutation_test(
        (a, b),
        mean_difference_stat,
        permutation_type="independent",
        vectorized=True,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=np.random.default_rng(rng),
    )
    return float(result.pvalue)


def mannwhitney_pvalue(
    x: Sequence[float], y: Sequence[float], alternative: Alternative = "two-sided"
) -> float:
    """Mann-Whitney U test (exact for small samples without ties, else normal approx.)."""
    a, b = _arrays(x, y)
    return float(stats.mannwhitneyu(a, b, alternative=alternative).pvalue)


def bootstrap_pvalue(
    x: Sequence[float],
    y: Sequence[float],
    alternative: Alternative = "two-sided",
    *,
    n_resamples: int = RESAMPLES,
    rng: np.random.Generator | int | None = 0,
) -> float:
    """Bootstrap test of equal means (Efron & Tibshirani 1993, algorithm 16.2).

    Both samples are shifted to the pooled mean, so the null hypothesis holds while each
    keeps its own spread; each is resampled independently and the Welch t statistic of the
    resamples is compared with the observed one: ``p = (1 + #extreme) / (1 + B)``.
    """
    a, b = _arrays(x, y)
    if a.size < 2 or b.size < 2:
        return float("nan")
    observed = float(welch_t_stat(a, b))
    if np.isnan(observed):
        return 1.0
    pooled = np.concatenate([a, b]).mean()
    shifted = (a - a.mean() + pooled, b - b.mean() + pooled)
    with np.errstate(all="ignore"):
        result = stats.bootstrap(
            shifted,
            welch_t_stat,
            n_resamples=n_resamples,
            vectorized=True,
            method="percentile",
            rng=np.random.default_rng(rng),
        )
    null = np.nan_to_num(result.bootstrap_distribution, nan=0.0)
    if alternative == "greater":
        extreme = np.sum(null >= observed)
    elif alternative == "less":
        extreme = np.sum(null <= observed)
    else:
        extreme = np.sum(np.abs(null) >= abs(observed))
    return float((1 + extreme) / (1 + null.size))


def pvalue(
    x: Sequence[float],
    y: Sequence[float],
    test: Test,
    alternative: Alternative = "two-sided",
    *,
    rng: np.random.Generator | int | None = 0,
) -> float:
    """The p-value of ``test`` (permutation | mannwhitney | bootstrap)."""
    if test == "permutation":
        return permutation_pvalue(x, y, alternative, rng=rng)
    if test == "mannwhitney":
        return mannwhitney_pvalue(x, y, alternative)
    if test == "bootstrap":
        return bootstrap_pvalue(x, y, alternative, rng=rng)
    raise ValueError(f"unknown test {test!r} (expected one of {', '.join(TESTS)})")


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (controls the family-wise error rate).

    Sorted ascending, the i-th smallest of m p-values becomes ``(m - i) p_(i)`` (i from 0),
    made non-decreasing and capped at 1. Rejecting where the adjusted value is at most alpha
    is Holm's procedure at level alpha. NaN p-values are left out of the family.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


@dataclass(frozen=True)
class Comparison:
    """Everything a verdict reports about A against B."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    mean_difference: float
    mean_difference_low: float
    mean_difference_high: float
    cliffs_delta: float
    cliffs_delta_low: float
    cliffs_delta_high: float
    p_value: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict (one row of a results table)."""
        return asdict(self)


def compare(
    x: Sequence[float],
    y: Sequence[float],
    test: Test = "permutation",
    alternative: Alternative = "two-sided",
    *,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = 0,
) -> Comparison:
    """Effect sizes with bootstrap CIs and the p-value of ``test``, A against B.

    Args:
        x: condition A, one value per run.
        y: condition B.
        test: permutation | mannwhitney | bootstrap.
        alternative: greater (A > B) | less | two-sided.
        confidence: level of the bootstrap intervals.
        rng: seed or generator; the same seed gives the same intervals and p-values.

    Returns:
        A :class:`Comparison`.
    """
    a, b = _arrays(x, y)
    rng = np.random.default_rng(rng)
    md_low, md_high = bootstrap_ci(a, b, mean_difference_stat, confidence=confidence, rng=rng)
    cd_low, cd_high = bootstrap_ci(a, b, cliffs_delta_stat, confidence=confidence, rng=rng)
    return Comparison(
        n_a=int(a.size),
        n_b=int(b.size),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        mean_difference=mean_difference(a, b),
        mean_difference_low=md_low,
        mean_difference_high=md_high,
        cliffs_delta=cliffs_delta(a, b),
        cliffs_delta_low=cd_low,
        cliffs_delta_high=cd_high,
        p_value=pvalue(a, b, test, alternative, rng=rng),
    )


@dataclass(frozen=True)
class Trend:
    """A numeric factor against a value, one point per run: rank correlation and slope."""

    n: int
    levels: int
    spearman_rho: float
    slope: float
    slope_low: float
    slope_high: float
    p_value: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict (one row of a results table)."""
        return asdict(self)


def _spearman_stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))


def _slope_stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    dx = x - x.mean(axis=axis, keepdims=True)
    dy = y - y.mean(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (dx * dy).sum(axis=axis) / (dx**2).sum(axis=axis)


def trend(
    factor: Sequence[float],
    values: Sequence[float],
    alternative: Alternative = "two-sided",
    *,
    confidence: float = 0.95,
    n_resamples: int = RESAMPLES,
    rng: np.random.Generator | int | None = 0,
) -> Trend:
    """Trend test of ``values`` over a numeric ``factor`` (one point per run).

    The p-value is a permutation test of Spearman's rank correlation (values re-paired
    with factor levels at random; exact when few enough pairings), so it holds for any
    monotone trend and any distribution. The slope is the least-squares slope of value on
    factor, with a bootstrap percentile interval over runs (resampled in pairs).

    Args:
        factor: the factor's value of each run.
        values: the value each run contributes.
        alternative: greater (values rise with the factor) | less | two-sided.
        confidence: level of the slope interval.
        n_resamples: permutations and bootstrap resamples.
        rng: seed or generator.

    Returns:
        A :class:`Trend` (NaN p-value with fewer than two factor levels or three runs).
    """
    x, y = _arrays(factor, values)
    if x.size != y.size:
        raise ValueError("factor and values need one entry per run")
    levels = int(np.unique(x).size)
    nan = float("nan")
    if levels < 2 or x.size < 3:
        return Trend(int(x.size), levels, nan, nan, nan, nan, nan)
    rng = np.random.default_rng(rng)
    rho = float(_spearman_stat(x, y))
    slope = float(_slope_stat(x, y))
    if np.ptp(y) == 0:
        return Trend(int(x.size), levels, 0.0, 0.0, 0.0, 0.0, 1.0)
    test = stats.permutation_test(
        (x, y),
        _spearman_stat,
        permutation_type="pairings",
        vectorized=True,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=rng,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot = stats.bootstrap(
            (x, y),
            _slope_stat,
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=rng,
        )
    low, high = (float(v) for v in boot.confidence_interval)
    return Trend(int(x.size), levels, rho, slope, low, high, float(test.pvalue))


def smallest_pvalue(n_a: int, n_b: int, alternative: Alternative = "greater") -> float:
    """The smallest p a rank or permutation test of ``n_a`` vs ``n_b`` runs can give.

    One arrangement of ``C(n_a + n_b, n_a)`` is the most extreme (two of them two-sided).
    """
    arrangements = float(comb(n_a + n_b, n_a))
    return (2.0 if alternative == "two-sided" else 1.0) / arrangements


def detectable_shift(
    n_a: int, n_b: int, alpha: float, alternative: Alternative = "greater", power: float = 0.8
) -> float:
    """The shift (in standard deviations of one run) found with ``power`` at ``alpha``.

    Normal approximation for two independent samples: ``(z_(1-a) + z_power) sqrt(1/n_a +
    1/n_b)``, with ``a = alpha / 2`` two-sided. Smaller shifts are usually not found.
    """
    tail = alpha / 2 if alternative == "two-sided" else alpha
    z = stats.norm.isf(tail) + stats.norm.ppf(power)
    return float(z * np.sqrt(1 / n_a + 1 / n_b))


def seed_interval(
    values: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 1999,
    rng: np.random.Generator | int | None = 0,
    bounds: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Bootstrap percentile interval of the mean over independent runs (seeds).

    The only confidence band the analysis draws: agents of one society hear each other,
    so their spread is not an interval. A percentile interval lies within the values
    observed, and ``bounds`` (a measure's range, e.g. ``(0, 1)``) clip it further.

    Returns:
        ``(low, high)``; the value itself for a single run, NaN for none.
    """
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return float("nan"), float("nan")
    if a.size == 1 or np.ptp(a) == 0:
        return float(a[0]), float(a[0])
    result = stats.bootstrap(
        (a,),
        np.mean,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(rng),
    )
    low, high = (float(v) for v in result.confidence_interval)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return low, high
