"""Per-arm totals of an experiment, read from the store, for the analysis.

:func:`arm_totals` gives one :class:`~cdp_plugin.experiments.analysis.ArmCounts` per arm, in the
experiment's order (the variants as the file lists them, then the holdout
when it has a share), with zeros for an arm nobody is in yet; an arm the
store still holds but the rules no longer define comes last, by name.
:func:`metric_kind` names what the analysis compares. Plain values only,
so the statistics can be built from them without reading the store.
"""

from __future__ import annotations

from typing import Literal

from cdp_plugin.experiments.analysis import ArmCounts
from cdp_plugin.rules.model.experiments import HOLDOUT, Experiment
from cdp_plugin.storage import Store


def arm_totals(store: Store, experiment: Experiment) -> list[ArmCounts]:
    """The experiment's totals per arm (see the module docstring). Raises StorageError."""
    found = {arm.arm: arm for arm in store.experiment_arms(experiment.name)}
    order = [v.name for v in experiment.variants]
    if experiment.holdout > 0 or HOLDOUT in found:
        order.append(HOLDOUT)
    order.extend(sorted(name for name in found if name not in order))
    totals = []
    for name in order:
        arm = found.get(name)
        totals.append(ArmCounts(name, 0, 0, 0, 0.0, 0.0) if arm is None else ArmCounts(
            name, arm.assigned, arm.exposed, arm.converted, arm.revenue_sum,
            arm.revenue_sum_squares))
    return totals


def metric_kind(experiment: Experiment) -> Literal["conversion_rate", "revenue"]:
    """What the primary metric measures: a conversion rate (``count: once``) or revenue."""
    return "conversion_rate" if experiment.metric.kind == "once" else "revenue"
