"""analyse(): the verdicts, the SRM check and the edge cases that must not raise."""

from __future__ import annotations

import math

import pytest

from cdp_plugin.experiments.analysis import (
    MINIMUM_EXPOSED,
    VERDICTS,
    ArmCounts,
    ExperimentCounts,
    Metric,
    analyse,
)
from cdp_plugin.experiments.sequential import always_valid_test, msprt_p_values


def arm(name: str, exposed: int, converted: int, *, assigned: int | None = None,
        revenue: float = 0.0, squares: float = 0.0) -> ArmCounts:
    return ArmCounts(name, exposed if assigned is None else assigned, exposed, converted,
                     revenue, squares)


def experiment(*arms: ArmCounts, metric: Metric = "conversion_rate", mde: float = 0.05,
               shares: dict[str, float] | None = None) -> ExperimentCounts:
    even = {a.name: 1 / len(arms) for a in arms}
    return ExperimentCounts("checkout", arms[0].name, arms, even if shares is None else shares,
                            metric, mde)


def verdicts(counts: ExperimentCounts) -> list[str]:
    return [c.verdict for c in analyse(counts).comparisons]


def test_a_large_lift_is_significant_and_relevant() -> None:
    result = analyse(experiment(arm("control", 20_000, 2_000), arm("green", 20_000, 2_400)))
    [green] = result.comparisons
    assert green.verdict == "significant_and_relevant"
    assert green.absolute_lift == pytest.approx(0.02)
    assert green.relative_lift == pytest.approx(0.2)
    assert green.always_valid_p_value is not None and green.always_valid_p_value <= 0.05
    assert green.p_value is not None and green.p_value < 1e-6
    assert green.interval is not None and green.interval.low > 0
    assert green.always_valid_interval is not None
    assert green.always_valid_interval.low > 0
    # The always-valid interval is the wider one: it pays for looking at any time.
    assert green.always_valid_interval.low < green.interval.low
    assert result.mixing_variance == pytest.approx((0.05 * 0.1) ** 2)
    assert result.control.conversion_rate == pytest.approx(0.1)


def test_a_harmful_variant_is_relevant_too() -> None:
    [red] = analyse(experiment(arm("control", 20_000, 2_400), arm("red", 20_000, 2_000))) \
        .comparisons
    assert red.verdict == "significant_and_relevant" and red.relative_lift is not None
    assert red.relative_lift < -0.05


def test_a_significant_lift_below_the_mde_is_not_relevant() -> None:
    counts = experiment(arm("control", 400_000, 40_000), arm("b", 400_000, 41_600), mde=0.1)
    [b] = analyse(counts).comparisons
    assert b.relative_lift == pytest.approx(0.04)
    assert b.verdict == "significant_not_relevant", b.reason


def test_a_fixed_horizon_p_below_alpha_is_not_enough_under_peeking() -> None:
    [b] = analyse(experiment(arm("control", 5_000, 500), arm("b", 5_000, 570))).comparisons
    assert b.p_value is not None and b.p_value < 0.05
    assert b.always_valid_p_value is not None and b.always_valid_p_value > 0.05
    assert b.verdict == "significant_and_relevant"  # read once, at the planned size
    assert b.always_valid_verdict == "not_significant", b.always_valid_reason


def test_sample_ratio_mismatch_overrides_every_verdict() -> None:
    counts = experiment(arm("control", 20_000, 2_000, assigned=10_000),
                        arm("green", 20_000, 2_400, assigned=10_600))
    result = analyse(counts)
    assert result.sample_ratio.mismatch and result.sample_ratio.p_value is not None
    assert result.sample_ratio.p_value < 0.001
    assert verdicts(counts) == ["srm"]
    fine = analyse(experiment(arm("control", 1_000, 100, assigned=10_000),
                              arm("green", 1_000, 100, assigned=10_100)))
    assert not fine.sample_ratio.mismatch


def test_the_holdout_counts_in_the_sample_ratio_check() -> None:
    shares = {"control": 0.45, "b": 0.45, "holdout": 0.1}
    arms = (arm("control", 4_500, 450), arm("b", 4_500, 450), arm("holdout", 1_000, 100))
    assert not analyse(experiment(*arms, shares=shares)).sample_ratio.mismatch
    missing_holdout = analyse(experiment(*arms[:2], shares=shares)).sample_ratio
    assert missing_holdout.mismatch and missing_holdout.degrees_of_freedom == 2
    no_share = analyse(experiment(*arms, shares={"control": 0.5, "b": 0.5})).sample_ratio
    assert no_share.mismatch and no_share.p_value == 0.0


@pytest.mark.parametrize("control, variant", [
    (arm("control", 0, 0), arm("b", 0, 0)),                            # no exposures
    (arm("control", MINIMUM_EXPOSED - 1, 10, assigned=5_000), arm("b", 5_000, 500)),  # thin
    (arm("control", 5_000, 0), arm("b", 5_000, 40)),                  # zero control rate
    (arm("control", 5_000, 0), arm("b", 5_000, 0)),                   # no conversions
    (arm("control", 5_000, 5_000), arm("b", 5_000, 5_000)),           # all converted
])
def test_degenerate_data_is_insufficient_not_an_error(control: ArmCounts,
                                                      variant: ArmCounts) -> None:
    [b] = analyse(experiment(control, variant)).comparisons
    assert b.verdict == "insufficient_data" and b.reason
    assert b.always_valid_p_value is None or math.isfinite(b.always_valid_p_value)


def test_zero_control_rate_leaves_the_relative_lift_undefined() -> None:
    [b] = analyse(experiment(arm("control", 5_000, 0), arm("b", 5_000, 40))).comparisons
    assert b.relative_lift is None and b.relative_interval is None
    assert b.absolute_lift == pytest.approx(0.008)
    assert b.p_value is not None and b.p_value < 1e-6  # the fixed-horizon test is defined
    assert b.reason == "the control's conversion_rate is not positive"


def test_no_exposures_gives_no_rates() -> None:
    result = analyse(experiment(arm("control", 0, 0), arm("b", 0, 0)))
    assert result.control.conversion_rate is None and result.control.revenue_per_subject is None
    [b] = result.comparisons
    assert b.absolute_lift is None and b.p_value is None and b.interval is None


def test_a_single_arm_has_nothing_to_compare() -> None:
    result = analyse(experiment(arm("control", 1_000, 100)))
    assert result.comparisons == ()
    assert result.sample_ratio.p_value is None and not result.sample_ratio.mismatch


def _revenue_arm(name: str, exposed: int, converted: int, order: float) -> ArmCounts:
    # Converters spend ``order`` or 2 * ``order`` in equal numbers; the rest spend nothing.
    half = converted // 2
    total = half * order + (converted - half) * 2 * order
    squares = half * order**2 + (converted - half) * (2 * order) ** 2
    return ArmCounts(name, exposed, exposed, converted, total, squares)


def test_revenue_uses_welch_and_revenue_per_subject() -> None:
    counts = experiment(_revenue_arm("control", 20_000, 2_000, 30.0),
                        _revenue_arm("b", 20_000, 2_000, 36.0), metric="revenue", mde=0.1)
    result = analyse(counts)
    [b] = result.comparisons
    assert result.control.revenue_per_subject == pytest.approx(4.5)
    assert b.arm.revenue_per_subject == pytest.approx(5.4)
    assert b.relative_lift == pytest.approx(0.2) and b.relative_interval is not None
    assert b.relative_interval.low < 0.2 < b.relative_interval.high
    assert b.verdict == "significant_and_relevant"
    assert result.mixing_variance == pytest.approx((0.1 * 4.5) ** 2)


def test_revenue_without_variance_is_insufficient() -> None:
    counts = experiment(arm("control", 500, 500, revenue=5_000.0, squares=50_000.0),
                        arm("b", 500, 500, revenue=5_000.0, squares=50_000.0), metric="revenue")
    [b] = analyse(counts).comparisons
    assert b.verdict == "insufficient_data" and b.reason == "no variance in revenue"


def test_an_explicit_mixing_variance_is_used() -> None:
    counts = experiment(arm("control", 20_000, 2_000), arm("b", 20_000, 2_200))
    result = analyse(counts, tau_squared=1e-3)
    [b] = result.comparisons
    assert result.mixing_variance == 1e-3
    assert b.always_valid_p_value != analyse(counts).comparisons[0].always_valid_p_value


@pytest.mark.parametrize("bad, message", [
    (ExperimentCounts("x", "nope", (arm("a", 10, 1),), {}, "conversion_rate", 0.05),
     "control 'nope' is not an arm"),
    (experiment(arm("a", 10, 11)), "converted <= exposed"),
    (experiment(arm("a", 10, 1), arm("a", 10, 1)), "arm names repeat"),
    (experiment(arm("a", 10, 1, revenue=math.nan)), "revenue sums"),
    (experiment(arm("a", 10, 1), mde=-0.1), "minimum detectable effect"),
])
def test_impossible_counts_are_refused_with_the_input_named(bad: ExperimentCounts,
                                                            message: str) -> None:
    with pytest.raises(ValueError, match=message):
        analyse(bad)


@pytest.mark.parametrize("tau_squared", [0.0, -1.0, math.inf])
def test_a_mixing_variance_must_be_positive(tau_squared: float) -> None:
    with pytest.raises(ValueError, match="tau_squared"):
        analyse(experiment(arm("a", 10, 1)), tau_squared=tau_squared)


def test_every_verdict_is_a_known_value() -> None:
    assert set(VERDICTS) == {"significant_and_relevant", "significant_not_relevant",
                             "not_significant", "insufficient_data", "srm"}


def test_the_msprt_is_the_papers_balanced_formula() -> None:
    # Johari et al.: n per arm, variance sigma**2 each, Lambda_n closed form.
    n, sigma2, tau2, d = 4_000, 0.09, 2.5e-5, 0.012
    paper = math.sqrt(2 * sigma2 / (2 * sigma2 + n * tau2)) * math.exp(
        n**2 * tau2 * d**2 / (4 * sigma2 * (2 * sigma2 + n * tau2)))
    assert float(msprt_p_values(d, 2 * sigma2 / n, tau2)) == pytest.approx(1 / paper)


@pytest.mark.parametrize("difference", [0.0, 0.004, 0.01, -0.03])
def test_the_always_valid_interval_inverts_the_test(difference: float) -> None:
    variance, tau2, alpha = 3.6e-5, 2.5e-5, 0.05
    test = always_valid_test(difference, variance, tau2, alpha=alpha)
    assert test is not None
    # At either bound the test of theta0 = bound sits exactly at alpha.
    for bound in (test.interval.low, test.interval.high):
        assert float(msprt_p_values(difference - bound, variance, tau2)) == pytest.approx(alpha)
    assert test.interval.excludes(0.0) == (test.p_value <= alpha)
