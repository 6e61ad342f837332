import numpy as np
import pytest
from scipy import stats as sps

from analysis import stats

REPS = 200
ALPHA = 0.05


def binomial_band(n: int, p: float, tail: float = 0.001) -> tuple[int, int]:
    """Counts outside this band have probability below 2 * tail under Binomial(n, p)."""
    return int(sps.binom.ppf(tail, n, p)), int(sps.binom.isf(tail, n, p))


def test_cliffs_delta_hand_computed():
    # pairs x_i - y_j: (1;1,1,2) -> 0,0,-1; (2;...) -> +,+,0; (3;...) -> +,+,+  => 4/9
    assert stats.cliffs_delta([1, 2, 3], [1, 1, 2]) == pytest.approx(4 / 9)
    assert stats.cliffs_delta([5, 6], [1, 2]) == 1.0
    assert stats.cliffs_delta([1, 2], [5, 6]) == -1.0
    assert stats.cliffs_delta([3, 3], [3, 3]) == 0.0


def test_cliffs_delta_matches_mann_whitney_u():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 6, size=13), rng.integers(0, 6, size=9)  # with ties
    u = sps.mannwhitneyu(x, y).statistic
    assert stats.cliffs_delta(x, y) == pytest.approx(2 * u / (13 * 9) - 1)


def test_mean_difference_is_a_minus_b():
    assert stats.mean_difference([1.0, 3.0], [0.5, 0.5, 0.5]) == pytest.approx(1.5)


def test_holm_textbook_example():
    # Holm (1979) as in the usual textbook example: four tests at alpha = 0.05.
    p = [0.01, 0.04, 0.03, 0.005]
    adjusted = stats.holm(p)
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, then max(0.04*1, 0.06) = 0.06
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert list(adjusted <= ALPHA) == [True, False, False, True]


def test_holm_caps_at_one_keeps_nan_and_monotone():
    adjusted = stats.holm([0.01, np.nan, 0.02, 0.3])  # NaN is not part of the family
    assert np.isnan(adjusted[1])
    assert adjusted[[0, 2, 3]] == pytest.approx([0.03, 0.04, 0.3])
    assert stats.holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])  # 0.5 -> max(0.5, 2 * 0.4)
    assert stats.holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert stats.holm([0.02]) == pytest.approx([0.02])


@pytest.mark.parametrize("test", stats.TESTS)
def test_planted_effect_is_found(test):
    # shift of one standard deviation, 15 runs per condition: one-sided power is ~0.9
    rng = np.random.default_rng(11)
    found = 0
    for rep in range(20):
        x, y = rng.normal(1.0, 1.0, 15), rng.normal(0.0, 1.0, 15)
        found += stats.pvalue(x, y, test, "greater", rng=rep) <= ALPHA
    assert found >= 15
    # and in the wrong direction it is not found
    x, y = rng.normal(1.0, 1.0, 15), rng.normal(0.0, 1.0, 15)
    assert stats.pvalue(x, y, test, "less", rng=0) > 0.5


def _null_pvalues(test: str, alternative: str) -> np.ndarray:
    rng = np.random.default_rng({"permutation": 1, "mannwhitney": 2, "bootstrap": 3}[test])
    out = []
    for rep in range(REPS):
        x, y = rng.normal(size=6), rng.normal(size=6)
        if test == "permutation":  # 924 arrangements: exact
            out.append(stats.permutation_pvalue(x, y, alternative))
        elif test == "bootstrap":
            out.append(stats.bootstrap_pvalue(x, y, alternative, n_resamples=1999, rng=rep))
        else:
            out.append(stats.mannwhitney_pvalue(x, y, alternative))
    return np.asarray(out)


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
@pytest.mark.parametrize("test", stats.TESTS)
def test_no_effect_gives_uniform_pvalues(test, alternative):
    p = _null_pvalues(test, alternative)
    low, high = binomial_band(REPS, ALPHA)
    assert low <= np.sum(p <= ALPHA) <= high  # false positive rate near alpha
    low, high = binomial_band(REPS, 0.5)
    assert low <= np.sum(p <= 0.5) <= high  # and the bulk of the distribution is uniform too
    assert 0.4 < np.mean(p) < 0.6


def test_bootstrap_ci_covers_the_true_difference():
    rng = np.random.default_rng(5)
    covered = []
    for rep in range(60):
        x, y = rng.normal(2.0, 1.0, 20), rng.normal(0.0, 2.0, 20)
        low, high = stats.bootstrap_ci(x, y, stats.mean_difference_stat, n_resamples=999, rng=rep)
        covered.append(low <= 2.0 <= high)
    low, high = binomial_band(60, 0.95)
    assert low <= sum(covered) <= high


def test_cliffs_delta_ci_contains_the_population_value():
    # for two normals one sd apart, delta = 2 * Phi(1 / sqrt 2) - 1 = 0.5205
    rng = np.random.default_rng(8)
    x, y = rng.normal(1.0, 1.0, 80), rng.normal(0.0, 1.0, 80)
    low, high = stats.bootstrap_ci(x, y, stats.cliffs_delta_stat, n_resamples=999)
    truth = 2 * sps.norm.cdf(1 / np.sqrt(2)) - 1
    assert low < truth < high
    assert high - low < 0.4


def test_degenerate_samples_do_not_crash():
    assert stats.bootstrap_ci([1, 1, 1], [1, 1, 1], stats.mean_difference_stat) == (0.0, 0.0)
    assert stats.bootstrap_ci([5, 6, 7], [1, 2, 3], stats.cliffs_delta_stat) == (1.0, 1.0)
    assert stats.bootstrap_pvalue([2, 2, 2], [2, 2, 2], "greater") == 1.0
    assert np.isnan(stats.bootstrap_ci([1], [2, 3], stats.mean_difference_stat)[0])
    with pytest.raises(ValueError, match="finite"):
        stats.cliffs_delta([1, np.nan], [1, 2])


def test_compare_is_repeatable_and_oriented():
    x, y = [3.1, 2.9, 3.4, 3.0, 3.3], [2.0, 2.2, 1.9, 2.4, 2.1]
    first = stats.compare(x, y, "bootstrap", "greater", rng=7)
    assert first == stats.compare(x, y, "bootstrap", "greater", rng=7)
    assert first.mean_difference == pytest.approx(np.mean(x) - np.mean(y))
    assert first.mean_difference_low <= first.mean_difference <= first.mean_difference_high
    assert first.cliffs_delta == 1.0
    assert first.p_value < 0.05
    flipped = stats.compare(y, x, "permutation", "greater", rng=7)
    assert flipped.cliffs_delta == -1.0
    assert flipped.p_value > 0.9
    with pytest.raises(ValueError, match="unknown test"):
        stats.pvalue(x, y, "t-test")


def _null_trends(alternative: str) -> np.ndarray:
    """A no-effect factor experiment, repeated: 3 levels x 10 seeds, values independent."""
    rng = np.random.default_rng(21)
    levels = np.repeat([0.0, 0.1, 0.2], 10)
    return np.asarray(
        [
            stats.trend(
                levels, rng.normal(size=levels.size), alternative, n_resamples=1999, rng=rep
            ).p_value
            for rep in range(REPS)
        ]
    )


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_no_trend_keeps_the_false_positive_rate(alternative):
    p = _null_trends(alternative)
    low, high = binomial_band(REPS, ALPHA)
    assert low <= np.sum(p <= ALPHA) <= high
    assert 0.4 < np.mean(p) < 0.6


def test_trend_finds_a_planted_slope_and_its_interval_covers_it():
    rng = np.random.default_rng(6)
    levels = np.repeat([0.0, 1.0, 2.0, 3.0], 10)
    result = stats.trend(levels, 2.0 * levels + rng.normal(size=levels.size), "greater")
    assert result.p_value <= 0.001 and result.spearman_rho > 0.8
    assert result.slope_low < 2.0 < result.slope_high
    assert result.levels == 4 and result.n == 40
    flat = stats.trend([0, 0, 0], [1.0, 2.0, 3.0])  # one level: no test
    assert np.isnan(flat.p_value)


def test_smallest_pvalue_and_detectable_shift():
    assert stats.smallest_pvalue(5, 5) == pytest.approx(1 / 252)
    assert stats.smallest_pvalue(10, 10, "two-sided") == pytest.approx(2 / 184756)
    # (z_0.95 + z_0.8) * sqrt(2 / 10) = (1.645 + 0.842) * 0.447
    assert stats.detectable_shift(10, 10, 0.05) == pytest.approx(1.112, abs=0.001)
    assert stats.detectable_shift(20, 20, 0.05) < stats.detectable_shift(10, 10, 0.05)


def test_seed_interval_is_a_clipped_percentile_interval():
    rng = np.random.default_rng(9)
    x = rng.uniform(0.95, 1.0, 8)
    low, high = stats.seed_interval(x, bounds=(0.0, 1.0))
    assert x.min() <= low < x.mean() < high <= min(x.max(), 1.0)
    assert stats.seed_interval([0.3]) == (0.3, 0.3)
    assert stats.seed_interval([1.2, 1.4], bounds=(0.0, 1.0))[1] == 1.0
