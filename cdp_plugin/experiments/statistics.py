"""Fixed-horizon tests and intervals comparing an experiment arm with its control.

Every comparison is treatment minus control. These numbers are valid when they
are read once, at a sample size fixed in advance; for looks at any time see
:mod:`cdp_plugin.experiments.sequential`. The distributions come from scipy.

- Conversion rate: the two-proportion z-test with pooled variance (two-sided),
  as ``statsmodels.stats.proportion.proportions_ztest``; the interval of the
  difference is Newcombe's hybrid score interval (Newcombe 1998, method 10,
  built from two Wilson intervals), as ``confint_proportions_2indep(...,
  compare="diff", method="newcomb")``: unlike the Wald interval it stays inside
  [-1, 1] and keeps its coverage for small counts and rates near 0 or 1. The
  interval of the relative lift is Katz's log interval of the risk ratio, minus
  one, as ``compare="ratio", method="log"``.
- Revenue per exposed subject: Welch's t-test from sufficient statistics (as
  ``scipy.stats.ttest_ind(a, b, equal_var=False)`` on the raw values), with the
  Welch interval of the difference on Welch–Satterthwaite degrees of freedom;
  the relative interval is the delta-method interval of the log ratio of means.

Functions taking counts accept numpy arrays as well as numbers, element-wise,
so simulations can run them on many experiments at once. A value that is
undefined (no subjects, no variance) is ``nan`` in arrays and ``None`` in the
dataclasses; nothing here raises on such data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval ``[low, high]``."""

    low: float
    high: float

    def excludes(self, value: float) -> bool:
        """Whether ``value`` lies outside the interval."""
        return value < self.low or value > self.high


@dataclass(frozen=True)
class FixedHorizonTest:
    """A fixed-horizon comparison: ``difference`` is treatment minus control.

    ``p_value`` is ``None`` when the test statistic is undefined (no variance
    under the null); ``relative_interval`` (for treatment / control - 1) is
    ``None`` when the ratio's interval is undefined (a zero count or mean).
    """

    difference: float
    p_value: float | None
    interval: Interval
    relative_interval: Interval | None


@dataclass(frozen=True)
class MeanSummary:
    """Sufficient statistics of one arm's values: size, mean and sample variance (ddof 1)."""

    n: int
    mean: float
    variance: float

    @classmethod
    def from_sums(cls, n: int, total: float, total_squares: float) -> MeanSummary | None:
        """From the count, the sum and the sum of squares; ``None`` when ``n`` < 2.

        Equal values can leave ``total_squares - total**2 / n`` a rounding error
        away from 0, of either sign; a sum of squared deviations below
        ``1e-12 * total_squares`` (a coefficient of variation under about 1e-6)
        is taken as exactly 0, so that equal values have no variance.
        """
        if n < 2:
            return None
        mean = total / n
        deviations = total_squares - total * mean
        variance = deviations / (n - 1) if deviations > 1e-12 * total_squares else 0.0
        return cls(n, mean, variance)


@dataclass(frozen=True)
class SampleRatioTest:
    """Chi-square goodness of fit of observed assignments against expected shares.

    ``p_value`` is ``None`` when there is nothing to test (no assignments, or
    fewer than two arms with a positive expected share).
    """

    statistic: float | None
    degrees_of_freedom: int
    p_value: float | None


def _z(alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2))


def _arrays(*values: npt.ArrayLike) -> list[FloatArray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def pooled_z_p_values(count_t: npt.ArrayLike, nobs_t: npt.ArrayLike,
                      count_c: npt.ArrayLike, nobs_c: npt.ArrayLike) -> FloatArray:
    """Two-sided p-values of the pooled two-proportion z-test, element-wise.

    ``nan`` where a group is empty or the pooled rate is 0 or 1 (no variance).
    """
    x_t, n_t, x_c, n_c = _arrays(count_t, nobs_t, count_c, nobs_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x_t + x_c) / (n_t + n_c)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
        z = (x_t / n_t - x_c / n_c) / se
        p = 2 * stats.norm.sf(np.abs(z))
    return np.where((n_t > 0) & (n_c > 0) & (se > 0), p, np.nan)


def wilson_interval(count: npt.ArrayLike, nobs: npt.ArrayLike,
                    alpha: float) -> tuple[FloatArray, FloatArray]:
    """Wilson's score interval of a proportion, element-wise, clipped to [0, 1]."""
    x, n = _arrays(count, nobs)
    z = _z(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def newcombe_interval(count_t: npt.ArrayLike, nobs_t: npt.ArrayLike, count_c: npt.ArrayLike,
                      nobs_c: npt.ArrayLike, alpha: float) -> tuple[FloatArray, FloatArray]:
    """Newcombe's hybrid score interval of ``p_t - p_c``, element-wise; empty group: ``nan``."""
    x_t, n_t, x_c, n_c = _arrays(count_t, nobs_t, count_c, nobs_c)
    low_t, high_t = wilson_interval(x_t, n_t, alpha)
    low_c, high_c = wilson_interval(x_c, n_c, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_t, p_c = x_t / n_t, x_c / n_c
    difference = p_t - p_c
    low = difference - np.sqrt((p_t - low_t) ** 2 + (high_c - p_c) ** 2)
    high = difference + np.sqrt((high_t - p_t) ** 2 + (p_c - low_c) ** 2)
    return low, high


def _finite(low: float, high: float) -> Interval | None:
    return Interval(low, high) if math.isfinite(low) and math.isfinite(high) else None


def compare_proportions(count_t: int, nobs_t: int, count_c: int, nobs_c: int, *,
                        alpha: float = 0.05) -> FixedHorizonTest | None:
    """Conversion rate of treatment vs control; ``None`` when either arm has no subjects."""
    if nobs_t <= 0 or nobs_c <= 0:
        return None
    p_value = float(pooled_z_p_values(count_t, nobs_t, count_c, nobs_c))
    low, high = newcombe_interval(count_t, nobs_t, count_c, nobs_c, alpha)
    relative = None
    if count_t > 0 and count_c > 0:
        log_ratio = math.log((count_t / nobs_t) / (count_c / nobs_c))
        half = _z(alpha) * math.sqrt(1 / count_t - 1 / nobs_t + 1 / count_c - 1 / nobs_c)
        relative = Interval(math.exp(log_ratio - half) - 1, math.exp(log_ratio + half) - 1)
    return FixedHorizonTest(
        difference=count_t / nobs_t - count_c / nobs_c,
        p_value=None if math.isnan(p_value) else p_value,
        interval=Interval(float(low), float(high)),
        relative_interval=relative,
    )


def welch_degrees_of_freedom(treatment: MeanSummary, control: MeanSummary) -> float:
    """Welch–Satterthwaite degrees of freedom (``nan`` when both variances are 0)."""
    a, b = treatment.variance / treatment.n, control.variance / control.n
    denominator = a**2 / (treatment.n - 1) + b**2 / (control.n - 1)
    return (a + b) ** 2 / denominator if denominator > 0 else math.nan


def compare_means(treatment: MeanSummary, control: MeanSummary, *,
                  alpha: float = 0.05) -> FixedHorizonTest | None:
    """Mean of treatment vs control by Welch's t-test; ``None`` when both variances are 0."""
    se = math.sqrt(treatment.variance / treatment.n + control.variance / control.n)
    if se == 0:
        return None
    result = stats.ttest_ind_from_stats(
        treatment.mean, math.sqrt(treatment.variance), treatment.n,
        control.mean, math.sqrt(control.variance), control.n, equal_var=False)
    df = welch_degrees_of_freedom(treatment, control)
    half = float(stats.t.isf(alpha / 2, df)) * se
    difference = treatment.mean - control.mean
    relative = None
    if treatment.mean > 0 and control.mean > 0:
        log_se = math.sqrt(treatment.variance / (treatment.n * treatment.mean**2)
                           + control.variance / (control.n * control.mean**2))
        log_ratio = math.log(treatment.mean / control.mean)
        relative = _finite(math.exp(log_ratio - _z(alpha) * log_se) - 1,
                           math.exp(log_ratio + _z(alpha) * log_se) - 1)
    return FixedHorizonTest(
        difference=difference,
        p_value=float(result.pvalue),
        interval=Interval(difference - half, difference + half),
        relative_interval=relative,
    )


def sample_ratio_test(observed: Sequence[int], expected_shares: Sequence[float]) -> SampleRatioTest:
    """Chi-square goodness of fit of ``observed`` counts against ``expected_shares``.

    The shares are normalised to sum to 1. An arm with a zero expected share
    and a positive count makes the statistic infinite and the p-value 0 (a
    certain mismatch); arms with a zero share and no count are left out.
    """
    pairs = [(o, s) for o, s in zip(observed, expected_shares, strict=True) if s > 0 or o > 0]
    total, share_sum = sum(o for o, _ in pairs), sum(s for _, s in pairs)
    df = len(pairs) - 1
    if total == 0 or df < 1 or share_sum <= 0:
        return SampleRatioTest(None, max(df, 0), None)
    if any(s <= 0 for _, s in pairs):
        return SampleRatioTest(math.inf, df, 0.0)
    expected = [total * s / share_sum for _, s in pairs]
    statistic = sum((o - e) ** 2 / e for (o, _), e in zip(pairs, expected, strict=True))
    return SampleRatioTest(statistic, df, float(stats.chi2.sf(statistic, df)))
