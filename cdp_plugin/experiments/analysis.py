"""The result of an experiment: every arm against the control, with a verdict.

:func:`analyse` turns the counts of one experiment into an
:class:`ExperimentAnalysis`. It is pure: no clock, no store. It raises
``ValueError`` only for counts that cannot describe an experiment (the
control missing, a negative count, more conversions than exposures); thin or
degenerate data (no exposures, no or only conversions, a zero control rate,
a single arm) gives ``None`` for what is undefined and an
``insufficient_data`` verdict.

An arm gets two verdicts by the same rules: ``verdict`` from the
fixed-horizon test, valid when the result is read once, at the sample size
planned in advance; ``always_valid_verdict`` from the always-valid test,
valid however often the result is read (daily, stopping at the first
significant look). First rule that applies:

- ``srm``: the sample-ratio check failed (p < :data:`SRM_THRESHOLD`); the
  assignment is broken and no comparison of the experiment is to be trusted;
- ``insufficient_data``: the arm or the control has fewer than
  :data:`MINIMUM_EXPOSED` exposed subjects, the control's metric is not
  positive (the relative lift is undefined), or the metric has no variance;
- ``significant_and_relevant``: *significant*, the test's p-value is at most
  ``alpha`` (equivalently, its interval of the difference excludes 0), and
  *relevant*, the relative lift is at least the minimum
  detectable effect in the direction of the difference (``>= mde`` for an
  increase, ``<= -mde`` for a decrease: a harmful variant is relevant too);
- ``significant_not_relevant``: significant, but the lift is smaller than that;
- ``not_significant``: otherwise.

A marketer who looks every day reads ``always_valid_verdict``: the
fixed-horizon verdict read that way rejects a true null far more often than
``alpha`` (``tests/experiments/test_peeking.py``). The always-valid test
pays for that guarantee with power: with the default mixing variance an
effect well beyond the minimum needs more subjects to show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cdp_plugin.experiments.sequential import (
    AlwaysValidTest,
    always_valid_test,
    default_mixing_variance,
    proportion_difference_variance,
)
from cdp_plugin.experiments.statistics import (
    FixedHorizonTest,
    Interval,
    MeanSummary,
    compare_means,
    compare_proportions,
    sample_ratio_test,
)

Metric = Literal["conversion_rate", "revenue"]
Verdict = Literal["significant_and_relevant", "significant_not_relevant", "not_significant",
                  "insufficient_data", "srm"]
VERDICTS: tuple[Verdict, ...] = ("significant_and_relevant", "significant_not_relevant",
                                 "not_significant", "insufficient_data", "srm")
MINIMUM_EXPOSED = 100  # per arm: below it the plug-in variance of the mSPRT is not to be trusted
SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class ArmCounts:
    """What was counted for one arm (a variant, or ``"holdout"``)."""

    name: str
    assigned: int
    exposed: int
    converted: int
    revenue_sum: float
    revenue_sum_squares: float


@dataclass(frozen=True)
class ExperimentCounts:
    """What was counted for one experiment, and what it was set up to detect."""

    name: str
    control: str
    arms: tuple[ArmCounts, ...]
    expected_shares: Mapping[str, float]
    metric: Metric
    minimum_detectable_effect: float


@dataclass(frozen=True)
class ArmSummary:
    """One arm's numbers; a rate or mean is ``None`` when the arm has no exposed subject."""

    name: str
    assigned: int
    exposed: int
    converted: int
    conversion_rate: float | None
    revenue_per_subject: float | None


@dataclass(frozen=True)
class ArmComparison:
    """One arm against the control on the experiment's metric (arm minus control).

    ``relative_lift`` is ``absolute_lift / control value``, ``None`` when the
    control's value is not positive. ``interval`` and ``relative_interval``
    (for the relative lift) and ``p_value`` are fixed-horizon;
    ``always_valid_*`` come from the mSPRT. ``reason`` and ``always_valid_reason``
    explain the two verdicts (see the module).
    """

    arm: ArmSummary
    absolute_lift: float | None
    relative_lift: float | None
    interval: Interval | None
    relative_interval: Interval | None
    p_value: float | None
    always_valid_p_value: float | None
    always_valid_interval: Interval | None
    verdict: Verdict
    reason: str
    always_valid_verdict: Verdict
    always_valid_reason: str


@dataclass(frozen=True)
class SampleRatioCheck:
    """Chi-square goodness of fit of ``assigned`` against the expected shares.

    ``mismatch`` is true when ``p_value`` < ``threshold``; ``p_value`` is
    ``None`` when there is nothing to check (no assignments, a single arm).
    """

    statistic: float | None
    degrees_of_freedom: int
    p_value: float | None
    mismatch: bool
    threshold: float


@dataclass(frozen=True)
class ExperimentAnalysis:
    """Every non-control arm against the control, in the order of ``ExperimentCounts.arms``.

    ``mixing_variance`` is the mSPRT's tau**2 (``None`` when the default,
    ``(mde * control value)**2``, is undefined and none was given).
    """

    name: str
    metric: Metric
    alpha: float
    minimum_detectable_effect: float
    mixing_variance: float | None
    control: ArmSummary
    comparisons: tuple[ArmComparison, ...]
    sample_ratio: SampleRatioCheck


def _validate(counts: ExperimentCounts, alpha: float) -> None:
    names = [arm.name for arm in counts.arms]
    if counts.control not in names:
        raise ValueError(f"experiment {counts.name!r}: control {counts.control!r} is not an arm")
    if len(set(names)) != len(names):
        raise ValueError(f"experiment {counts.name!r}: arm names repeat")
    for arm in counts.arms:
        if min(arm.assigned, arm.exposed, arm.converted) < 0 or arm.converted > arm.exposed:
            raise ValueError(f"experiment {counts.name!r}, arm {arm.name!r}: counts must be "
                             "non-negative, with converted <= exposed")
        if not (math.isfinite(arm.revenue_sum) and math.isfinite(arm.revenue_sum_squares)
                and arm.revenue_sum_squares >= 0):
            raise ValueError(f"experiment {counts.name!r}, arm {arm.name!r}: revenue sums "
                             "must be finite, the sum of squares non-negative")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    if not (math.isfinite(counts.minimum_detectable_effect)
            and counts.minimum_detectable_effect >= 0):
        raise ValueError(f"experiment {counts.name!r}: the minimum detectable effect must be "
                         "a non-negative number")


def _summary(arm: ArmCounts) -> ArmSummary:
    rate = arm.converted / arm.exposed if arm.exposed else None
    revenue = arm.revenue_sum / arm.exposed if arm.exposed else None
    return ArmSummary(arm.name, arm.assigned, arm.exposed, arm.converted, rate, revenue)


def _sample_ratio(counts: ExperimentCounts) -> SampleRatioCheck:
    names = list(dict.fromkeys([*(arm.name for arm in counts.arms), *counts.expected_shares]))
    assigned = {arm.name: arm.assigned for arm in counts.arms}
    result = sample_ratio_test([assigned.get(name, 0) for name in names],
                               [float(counts.expected_shares.get(name, 0.0)) for name in names])
    mismatch = result.p_value is not None and result.p_value < SRM_THRESHOLD
    return SampleRatioCheck(result.statistic, result.degrees_of_freedom, result.p_value,
                            mismatch, SRM_THRESHOLD)


def _value(metric: Metric, arm: ArmSummary) -> float | None:
    return arm.conversion_rate if metric == "conversion_rate" else arm.revenue_per_subject


def _tests(metric: Metric, arm: ArmCounts, control: ArmCounts, alpha: float,
           tau_squared: float | None) -> tuple[FixedHorizonTest | None, AlwaysValidTest | None]:
    if metric == "conversion_rate":
        fixed = compare_proportions(arm.converted, arm.exposed, control.converted,
                                    control.exposed, alpha=alpha)
        variance = float(proportion_difference_variance(
            arm.converted, arm.exposed, control.converted, control.exposed))
    else:
        treated = MeanSummary.from_sums(arm.exposed, arm.revenue_sum, arm.revenue_sum_squares)
        base = MeanSummary.from_sums(control.exposed, control.revenue_sum,
                                     control.revenue_sum_squares)
        if treated is None or base is None:
            return None, None
        fixed = compare_means(treated, base, alpha=alpha)
        variance = treated.variance / treated.n + base.variance / base.n
    if fixed is None or tau_squared is None:
        return fixed, None
    return fixed, always_valid_test(fixed.difference, variance, tau_squared, alpha=alpha)


def _verdict(metric: Metric, arm: ArmSummary, control: ArmSummary, srm: SampleRatioCheck,
             relative: float | None, test: FixedHorizonTest | AlwaysValidTest | None,
             label: str, counts: ExperimentCounts, alpha: float) -> tuple[Verdict, str]:
    """The verdict by one test (``label`` names it in the reason)."""
    if srm.mismatch:
        return "srm", f"sample ratio mismatch (p = {srm.p_value:.2g} < {srm.threshold})"
    thin = [a.name for a in (arm, control) if a.exposed < MINIMUM_EXPOSED]
    if thin:
        return "insufficient_data", (f"fewer than {MINIMUM_EXPOSED} exposed subjects in "
                                     + " and ".join(dict.fromkeys(thin)))
    if relative is None:
        return "insufficient_data", f"the control's {metric} is not positive"
    if test is None or test.p_value is None:
        return "insufficient_data", f"no variance in {metric}"
    if test.p_value > alpha:
        return "not_significant", f"{label}p = {test.p_value:.3g} > {alpha}"
    mde = counts.minimum_detectable_effect
    lift = f"relative lift {relative:+.2%}"
    if (relative >= mde) if test.difference > 0 else (relative <= -mde):
        return "significant_and_relevant", f"{lift} reaches the minimum effect {mde:.2%}"
    return "significant_not_relevant", f"{lift} is smaller than the minimum effect {mde:.2%}"


def analyse(counts: ExperimentCounts, *, alpha: float = 0.05,
            tau_squared: float | None = None) -> ExperimentAnalysis:
    """Compare every non-control arm with the control; see the module for the verdicts.

    ``tau_squared`` is the mSPRT's mixing variance on the metric's scale; by
    default ``(minimum_detectable_effect * control value)**2``
    (:mod:`cdp_plugin.experiments.sequential` says why). Raises ``ValueError``
    for impossible counts, an ``alpha`` outside (0, 1) or a ``tau_squared``
    that is not positive.
    """
    _validate(counts, alpha)
    if tau_squared is not None and not (math.isfinite(tau_squared) and tau_squared > 0):
        raise ValueError(f"tau_squared must be a positive number, not {tau_squared}")
    control_counts = next(arm for arm in counts.arms if arm.name == counts.control)
    control = _summary(control_counts)
    control_value = _value(counts.metric, control)
    if tau_squared is None and control_value is not None:
        tau_squared = default_mixing_variance(control_value, counts.minimum_detectable_effect)
    srm = _sample_ratio(counts)
    comparisons = []
    for arm_counts in counts.arms:
        if arm_counts.name == counts.control:
            continue
        arm = _summary(arm_counts)
        fixed, sequential = _tests(counts.metric, arm_counts, control_counts, alpha, tau_squared)
        value = _value(counts.metric, arm)
        absolute = value - control_value if value is not None and control_value is not None \
            else None
        relative = absolute / control_value if absolute is not None and control_value \
            and control_value > 0 else None
        verdict, reason = _verdict(counts.metric, arm, control, srm, relative, fixed,
                                   "", counts, alpha)
        safe_verdict, safe_reason = _verdict(counts.metric, arm, control, srm, relative,
                                             sequential, "always-valid ", counts, alpha)
        comparisons.append(ArmComparison(
            arm=arm, absolute_lift=absolute, relative_lift=relative,
            interval=fixed.interval if fixed else None,
            relative_interval=fixed.relative_interval if fixed else None,
            p_value=fixed.p_value if fixed else None,
            always_valid_p_value=sequential.p_value if sequential else None,
            always_valid_interval=sequential.interval if sequential else None,
            verdict=verdict, reason=reason, always_valid_verdict=safe_verdict,
            always_valid_reason=safe_reason))
    return ExperimentAnalysis(counts.name, counts.metric, alpha, counts.minimum_detectable_effect,
                              tau_squared, control, tuple(comparisons), srm)
