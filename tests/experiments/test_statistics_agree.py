"""The experiment statistics agree with statsmodels and scipy on many random counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from cdp_plugin.experiments.statistics import (
    MeanSummary,
    compare_means,
    compare_proportions,
    pooled_z_p_values,
    sample_ratio_test,
)

TOLERANCE = 1e-6
RNG_SEED = 20261207


def _count_pairs(rng: np.random.Generator, cases: int) -> list[tuple[int, int, int, int]]:
    """Small and large arms; rates uniform, near 0, near 1, exactly 0 and exactly 1."""
    pairs = []
    for index in range(cases):
        n_t, n_c = (int(n) for n in rng.integers(1, 30 if index % 3 == 0 else 20_000, size=2))
        kind = index % 5
        rates = {0: rng.uniform(0, 1, 2), 1: rng.uniform(0, 0.01, 2),
                 2: rng.uniform(0.99, 1, 2), 3: np.array([0.0, rng.uniform()]),
                 4: np.array([1.0, rng.uniform()])}[kind]
        rng.shuffle(rates)
        pairs.append((int(rng.binomial(n_t, rates[0])), n_t, int(rng.binomial(n_c, rates[1])), n_c))
    return pairs


PAIRS = _count_pairs(np.random.default_rng(RNG_SEED), 600)


def test_the_cases_cover_small_counts_and_extreme_rates() -> None:
    assert any(x_t == 0 and x_c == 0 for x_t, _, x_c, _ in PAIRS)
    assert any(x_t == n_t for x_t, n_t, _, _ in PAIRS)
    assert sum(n_t < 30 and n_c < 30 for _, n_t, _, n_c in PAIRS) > 100


@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_proportions_agree_with_statsmodels(alpha: float) -> None:
    defined_p = 0
    for x_t, n_t, x_c, n_c in PAIRS:
        result = compare_proportions(x_t, n_t, x_c, n_c, alpha=alpha)
        assert result is not None
        assert result.difference == pytest.approx(x_t / n_t - x_c / n_c, abs=1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            _, expected_p = proportions_ztest([x_t, x_c], [n_t, n_c])
        if math.isnan(expected_p):
            assert result.p_value is None, (x_t, n_t, x_c, n_c)
        else:
            defined_p += 1
            assert result.p_value == pytest.approx(expected_p, abs=TOLERANCE), (x_t, n_t, x_c, n_c)
        low, high = confint_proportions_2indep(x_t, n_t, x_c, n_c, compare="diff",
                                               method="newcomb", alpha=alpha)
        assert result.interval.low == pytest.approx(low, abs=TOLERANCE), (x_t, n_t, x_c, n_c)
        assert result.interval.high == pytest.approx(high, abs=TOLERANCE), (x_t, n_t, x_c, n_c)
        if x_t > 0 and x_c > 0:
            low, high = confint_proportions_2indep(x_t, n_t, x_c, n_c, compare="ratio",
                                                   method="log", alpha=alpha)
            assert result.relative_interval is not None
            assert result.relative_interval.low == pytest.approx(low - 1, abs=TOLERANCE)
            assert result.relative_interval.high == pytest.approx(high - 1, abs=TOLERANCE)
        else:
            assert result.relative_interval is None
    assert defined_p > 400


def test_vectorised_z_test_equals_the_scalar_one() -> None:
    x_t, n_t, x_c, n_c = (np.array(column) for column in zip(*PAIRS, strict=True))
    vectorised = pooled_z_p_values(x_t, n_t, x_c, n_c)
    for value, pair in zip(vectorised, PAIRS, strict=True):
        result = compare_proportions(*pair)
        assert result is not None
        assert (math.isnan(value) and result.p_value is None) or value == result.p_value


def _revenue(rng: np.random.Generator, n: int, rate: float, scale: float) -> np.ndarray:
    converted = rng.uniform(size=n) < rate
    return np.where(converted, rng.lognormal(math.log(scale), 1.0, size=n), 0.0)


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_welch_agrees_with_scipy_and_statsmodels_on_raw_values(alpha: float) -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    checked = 0
    for index in range(300):
        n_t, n_c = (int(n) for n in rng.integers(2, 12 if index % 4 == 0 else 3_000, size=2))
        scale = float(rng.choice([0.01, 1.0, 50.0, 10_000.0]))
        a = _revenue(rng, n_t, float(rng.uniform(0.02, 1)), scale)
        b = _revenue(rng, n_c, float(rng.uniform(0.02, 1)), scale)
        treatment = MeanSummary.from_sums(n_t, float(a.sum()), float((a**2).sum()))
        control = MeanSummary.from_sums(n_c, float(b.sum()), float((b**2).sum()))
        assert treatment is not None and control is not None
        result = compare_means(treatment, control, alpha=alpha)
        if a.var() == 0 and b.var() == 0:
            assert result is None
            continue
        assert result is not None
        checked += 1
        expected = stats.ttest_ind(a, b, equal_var=False)
        assert result.p_value == pytest.approx(float(expected.pvalue), abs=TOLERANCE)
        low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(
            alpha=alpha, usevar="unequal")
        width = max(1.0, abs(high - low))  # revenue scales reach 10^4: compare relative to it
        assert result.interval.low == pytest.approx(low, abs=TOLERANCE * width)
        assert result.interval.high == pytest.approx(high, abs=TOLERANCE * width)
    assert checked > 250


def test_the_relative_interval_of_means_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(RNG_SEED + 2)
    lift, covered, runs = 0.1, 0, 1_000
    for _ in range(runs):
        a = _revenue(rng, 2_000, 0.3, 20.0 * (1 + lift))
        b = _revenue(rng, 2_000, 0.3, 20.0)
        treatment = MeanSummary.from_sums(a.size, float(a.sum()), float((a**2).sum()))
        control = MeanSummary.from_sums(b.size, float(b.sum()), float((b**2).sum()))
        assert treatment is not None and control is not None
        result = compare_means(treatment, control)
        assert result is not None and result.relative_interval is not None
        covered += not result.relative_interval.excludes(lift)
    assert 0.93 <= covered / runs <= 0.97, covered / runs


def test_mean_summary_needs_two_values_and_never_has_negative_variance() -> None:
    assert MeanSummary.from_sums(1, 5.0, 25.0) is None
    constant = MeanSummary.from_sums(3, 0.3, 0.03)
    assert constant is not None and constant.variance == 0.0


def test_sample_ratio_agrees_with_scipy_chisquare() -> None:
    rng = np.random.default_rng(RNG_SEED + 3)
    for _ in range(200):
        arms = int(rng.integers(2, 6))
        shares = rng.dirichlet(np.ones(arms))
        observed = rng.multinomial(int(rng.integers(10, 100_000)), rng.dirichlet(np.ones(arms)))
        result = sample_ratio_test([int(o) for o in observed], [float(s) for s in shares])
        expected = stats.chisquare(observed, shares * observed.sum())
        assert result.degrees_of_freedom == arms - 1
        assert result.statistic == pytest.approx(float(expected.statistic), rel=1e-9)
        assert result.p_value == pytest.approx(float(expected.pvalue), abs=TOLERANCE)


def test_sample_ratio_edge_cases() -> None:
    assert sample_ratio_test([0, 0], [0.5, 0.5]).p_value is None
    assert sample_ratio_test([100], [1.0]).p_value is None
    unexpected = sample_ratio_test([50, 50, 3], [0.5, 0.5, 0.0])
    assert unexpected.p_value == 0.0 and unexpected.statistic == math.inf
    assert sample_ratio_test([50, 50, 0], [0.5, 0.5, 0.0]).degrees_of_freedom == 1
    assert sample_ratio_test([500, 500], [1.0, 1.0]).p_value == pytest.approx(1.0)
