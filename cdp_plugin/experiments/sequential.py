"""Always-valid inference: the mixture sequential probability ratio test (mSPRT).

Johari, Koomen, Pekelis and Walsh, "Peeking at A/B Tests: Why it matters, and
what to do about it", KDD 2017, and "Always Valid Inference: Continuous
Monitoring of A/B Tests", Operations Research 70(3), 2022.

The estimate is the difference of means ``d`` (treatment minus control) with
the plug-in variance ``V = s_t**2 / n_t + s_c**2 / n_c``. Against the null
``theta = theta0``, mixing the alternative over ``theta ~ N(theta0, tau**2)``
gives the likelihood ratio

    Lambda(theta0) = sqrt(V / (V + tau**2)) * exp(tau**2 * (d - theta0)**2 / (2 V (V + tau**2)))

(with ``n`` subjects per arm and common variance this is the paper's
``Lambda_n``, since then ``V = 2 sigma**2 / n``). Under the null, ``Lambda`` is
a martingale, so by Ville's inequality ``P(Lambda >= 1/alpha at any look) <=
alpha``: the always-valid p-value ``min(1, 1/Lambda(0))`` may be compared with
``alpha`` at every look, as often as one likes. The always-valid interval is
the set of ``theta0`` not rejected, ``d +/- sqrt(2 V (V + tau**2) / tau**2 *
(log(1/alpha) + log((V + tau**2) / V) / 2))``; it excludes 0 exactly when the
p-value is at most ``alpha``. Taking the running minimum of the p-value (and
the running intersection of the intervals) over past looks stays valid; the
functions here compute the current look only.

The guarantee is exact for normal data with known variance; with the plug-in
variance it holds asymptotically, which is why an arm needs a minimum number
of exposed subjects before the analysis reads it (see ``analysis``).

The mixing variance ``tau**2`` is on the scale of the metric. Its default,
:func:`default_mixing_variance`, is ``(mde * control_mean)**2``: the mixture's
spread is the smallest absolute effect the experiment declares relevant.
Johari et al. choose the mixing distribution to match the effect sizes one
expects (they fit it to past experiments); without such a history, the
minimum detectable effect is the experiment's own statement of that scale.
A larger ``tau`` finds large effects sooner and small ones later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cdp_plugin.experiments.statistics import FloatArray, Interval


@dataclass(frozen=True)
class AlwaysValidTest:
    """One look of the mSPRT: ``p_value`` and ``interval`` hold at any number of looks."""

    difference: float
    p_value: float
    interval: Interval
    mixing_variance: float


def default_mixing_variances(control_mean: npt.ArrayLike,
                             minimum_detectable_effect: float) -> FloatArray:
    """``(mde * control_mean)**2``, element-wise; ``nan`` where not a positive finite number."""
    tau_squared = (minimum_detectable_effect * np.asarray(control_mean, dtype=np.float64)) ** 2
    return np.where(np.isfinite(tau_squared) & (tau_squared > 0), tau_squared, np.nan)


def default_mixing_variance(control_mean: float, minimum_detectable_effect: float) -> float | None:
    """:func:`default_mixing_variances` for one experiment; ``None`` instead of ``nan``."""
    tau_squared = float(default_mixing_variances(control_mean, minimum_detectable_effect))
    return None if math.isnan(tau_squared) else tau_squared


def proportion_difference_variance(count_t: npt.ArrayLike, nobs_t: npt.ArrayLike,
                                   count_c: npt.ArrayLike, nobs_c: npt.ArrayLike) -> FloatArray:
    """Plug-in variance of ``p_t - p_c``, element-wise: ``p (1 - p) / n`` summed over the arms."""
    x_t, n_t, x_c, n_c = (np.asarray(v, dtype=np.float64)
                          for v in (count_t, nobs_t, count_c, nobs_c))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_t, p_c = x_t / n_t, x_c / n_c
        variance: FloatArray = p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c
    return variance


def msprt_p_values(difference: npt.ArrayLike, variance: npt.ArrayLike,
                   tau_squared: npt.ArrayLike) -> FloatArray:
    """Always-valid p-values ``min(1, 1 / Lambda(0))``, element-wise.

    ``nan`` where the variance or ``tau_squared`` is not positive and finite.
    Computed on the log scale, so a huge ``Lambda`` gives 0 rather than overflowing.
    """
    d, v, t = (np.asarray(x, dtype=np.float64) for x in (difference, variance, tau_squared))
    ok = np.isfinite(d) & np.isfinite(v) & np.isfinite(t) & (v > 0) & (t > 0)
    v, t = np.where(ok, v, 1.0), np.where(ok, t, 1.0)
    log_lambda = 0.5 * np.log(v / (v + t)) + t * np.where(ok, d, 0.0) ** 2 / (2 * v * (v + t))
    return np.where(ok, np.exp(np.minimum(0.0, -log_lambda)), np.nan)


def msprt_half_widths(variance: npt.ArrayLike, tau_squared: npt.ArrayLike,
                      alpha: float) -> FloatArray:
    """Half-widths of the always-valid ``1 - alpha`` intervals around the estimate, element-wise."""
    v, t = (np.asarray(x, dtype=np.float64) for x in (variance, tau_squared))
    ok = np.isfinite(v) & np.isfinite(t) & (v > 0) & (t > 0)
    v, t = np.where(ok, v, 1.0), np.where(ok, t, 1.0)
    squared = 2 * v * (v + t) / t * (math.log(1 / alpha) + 0.5 * np.log((v + t) / v))
    return np.where(ok, np.sqrt(squared), np.nan)


def always_valid_test(difference: float, variance: float, tau_squared: float, *,
                      alpha: float = 0.05) -> AlwaysValidTest | None:
    """The mSPRT at the current look; ``None`` unless the variance and ``tau_squared`` are > 0."""
    p_value = float(msprt_p_values(difference, variance, tau_squared))
    if math.isnan(p_value):
        return None
    half = float(msprt_half_widths(variance, tau_squared, alpha))
    return AlwaysValidTest(difference, p_value,
                           Interval(difference - half, difference + half), tau_squared)
