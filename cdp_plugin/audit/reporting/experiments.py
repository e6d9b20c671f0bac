"""The experiments section: per experiment and arm, how many subjects the audit
log shows assigned, exposed (holdout: counterfactually) and converted, and
the revenue attributed.

Counted from ``experiment.*`` records alone, so it needs no store and no
statistics; subjects are only counted, never kept. Like every handler these
treat a field of the wrong type as absent and never raise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cdp_plugin.audit.reporting.common import Record

if TYPE_CHECKING:
    from cdp_plugin.audit.report import ReportAggregator

STEPS = ("assigned", "exposed", "converted")


@dataclass(slots=True)
class ExperimentCounters:
    """What the experiments section counts: records per (experiment, arm, step)
    and the revenue per (experiment, arm)."""

    steps: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    revenue: dict[tuple[str, str], float] = field(default_factory=dict)


def _key(record: Record) -> tuple[str, str] | None:
    experiment, arm = record.get("experiment"), record.get("arm")
    if isinstance(experiment, str) and experiment and isinstance(arm, str) and arm:
        return experiment, arm
    return None


def assigned(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    key = _key(record)
    if key is not None:
        agg.experiments.steps[(*key, "assigned")] += 1


def exposed(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    key = _key(record)
    if key is not None:
        agg.experiments.steps[(*key, "exposed")] += 1


def converted(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    key = _key(record)
    if key is None:
        return
    counters = agg.experiments
    counters.steps[(*key, "converted")] += 1
    amount = record.get("revenue")
    if isinstance(amount, int | float) and not isinstance(amount, bool):
        counters.revenue[key] = counters.revenue.get(key, 0.0) + float(amount)


def experiments_section(agg: ReportAggregator) -> dict[str, Any]:
    """``{experiment: {"arms": {arm: {assigned, exposed, converted, revenue}}}}``,
    experiments and arms by name. ``converted`` counts conversion records: one
    per subject for a ``count: once`` metric, one per attributed event for a
    revenue metric."""
    counters = agg.experiments
    arms = sorted({(experiment, arm) for experiment, arm, _ in counters.steps})
    section: dict[str, Any] = {}
    for experiment, arm in arms:
        row: dict[str, int | float] = {
            step: counters.steps[(experiment, arm, step)] for step in STEPS}
        row["revenue"] = round(counters.revenue.get((experiment, arm), 0.0), 2)
        section.setdefault(experiment, {"arms": {}})["arms"][arm] = row
    return section
