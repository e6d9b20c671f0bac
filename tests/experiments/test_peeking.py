"""Peeking: the always-valid test keeps its error rate when looked at every day; the
fixed-horizon z-test does not. Simulated A/A and A/B experiments, vectorised with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from cdp_plugin.experiments.analysis import ArmCounts, ExperimentCounts, analyse
from cdp_plugin.experiments.sequential import (
    default_mixing_variances,
    msprt_p_values,
    proportion_difference_variance,
)
from cdp_plugin.experiments.statistics import pooled_z_p_values

ALPHA = 0.05
EXPERIMENTS, LOOKS, STEP = 1_000, 20, 500  # a look every 500 subjects per arm, up to 10,000


def _cumulative_conversions(rng: np.random.Generator, rate: float, experiments: int,
                            looks: int, step: int) -> np.ndarray:
    """Conversions per experiment (rows) at each look (columns), for one arm."""
    return rng.binomial(step, rate, size=(experiments, looks)).cumsum(axis=1)


def _always_valid(x_t: np.ndarray, x_c: np.ndarray, n: np.ndarray, mde: float) -> np.ndarray:
    """The analysis's mSPRT p-values for every experiment and look (arm sizes ``n`` per look)."""
    difference = x_t / n - x_c / n
    variance = proportion_difference_variance(x_t, n, x_c, n)
    return msprt_p_values(difference, variance, default_mixing_variances(x_c / n, mde))


def _counts(x_t: int, x_c: int, n: int, mde: float) -> ExperimentCounts:
    arms = tuple(ArmCounts(name, n, n, x, 0.0, 0.0) for name, x in (("a", x_c), ("b", x_t)))
    return ExperimentCounts("sim", "a", arms, {"a": 0.5, "b": 0.5}, "conversion_rate", mde)


@pytest.mark.parametrize("mde", [0.05, 0.2])
def test_peeking_at_a_a_experiments(mde: float) -> None:
    rng = np.random.default_rng(7 if mde == 0.05 else 8)
    x_t, x_c = (_cumulative_conversions(rng, 0.1, EXPERIMENTS, LOOKS, STEP) for _ in range(2))
    n = np.broadcast_to(STEP * np.arange(1, LOOKS + 1), x_t.shape)
    always_valid = _always_valid(x_t, x_c, n, mde)
    naive = pooled_z_p_values(x_t, n, x_c, n)
    assert not np.isnan(always_valid).any() and not np.isnan(naive).any()
    valid_rate = float((always_valid <= ALPHA).any(axis=1).mean())
    naive_rate = float((naive < ALPHA).any(axis=1).mean())
    rates = (f"mde {mde}: rejected at some look of {LOOKS}: always-valid {valid_rate:.1%}, "
             f"naive z-test {naive_rate:.1%}")
    print(rates)
    assert valid_rate <= ALPHA, rates
    assert naive_rate > 0.10 and naive_rate > 2 * valid_rate, rates
    # The last look alone is a fixed-horizon test: the z-test is right there.
    assert 0.03 <= float((naive[:, -1] < ALPHA).mean()) <= 0.07, rates

    # The vectorised path is the one analyse() takes.
    for row, look in zip(rng.integers(0, EXPERIMENTS, 25), rng.integers(0, LOOKS, 25),
                         strict=True):
        counts = _counts(int(x_t[row, look]), int(x_c[row, look]), int(n[row, look]), mde)
        [comparison] = analyse(counts, alpha=ALPHA).comparisons
        assert comparison.always_valid_p_value == pytest.approx(always_valid[row, look],
                                                                rel=1e-12)
        assert comparison.p_value == pytest.approx(naive[row, look], rel=1e-12)


def test_a_real_lift_is_found() -> None:
    rng = np.random.default_rng(11)
    experiments, looks, step, mde = 200, 20, 1_000, 0.1
    x_c = _cumulative_conversions(rng, 0.10, experiments, looks, step)
    x_t = _cumulative_conversions(rng, 0.12, experiments, looks, step)  # +20 % relative
    n = np.broadcast_to(step * np.arange(1, looks + 1), x_t.shape)
    rejected = (_always_valid(x_t, x_c, n, mde) <= ALPHA).any(axis=1)
    assert rejected.mean() >= 0.95, f"power {rejected.mean():.1%}"

    [comparison] = analyse(_counts(2_400, 2_000, 20_000, mde), alpha=ALPHA).comparisons
    assert comparison.verdict == "significant_and_relevant", comparison
    assert comparison.relative_lift == pytest.approx(0.2)
