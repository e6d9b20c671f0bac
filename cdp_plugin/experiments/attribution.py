"""Conversions: events attributed to the experiments their subjects were exposed to.

Called by the host for every event it forwards, after its decision is
audited, inside the same unit of work. An event converts for an experiment
when all of these hold:

* it matches the experiment's primary metric (``metric.match``);
* its decision allows it for the experiment's purpose, so an event of a
  subject who withdrew that purpose (or never gave it) is never attributed;
* its subject was exposed (a holdout subject's counterfactual exposure
  counts), and the event's own timestamp lies within ``metric.within_days``
  of the first exposure, the exposure included;
* for ``count: once``, the subject has not converted yet; for ``revenue``,
  every matching event adds the number at the metric's property path (0
  when it is absent or not a number: the conversion still counts).

Events of subjects never exposed change nothing. The common case, an event
no experiment counts, costs one memoized lookup and no store read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from math import isfinite
from typing import Any

from cdp_plugin.audit.records import ExperimentConverted
from cdp_plugin.hookrunner import HookRunner
from cdp_plugin.stages.consent import IN_EVENT_SKEW
from cdp_plugin.types import Decision, Event


def attribute_conversions(hooks: HookRunner, event: Event, decision: Decision,
                          message_key: str, received_at: datetime) -> int:
    """Attribute ``event`` to every experiment it converts for (see the module
    docstring); return how many. Raises StorageError or AuditError.

    The event's timestamp is the client's, so it counts no later than its
    receipt, or the exposure when the gate was asked about a later time (plus the
    skew the consent stage allows): a future date cannot place a conversion
    inside a window that has closed.
    """
    runtime = hooks.runtime
    candidates = [experiment for experiment in
                  runtime.rules.experiments.converting(event.type, event.name)
                  if experiment.purpose in decision.purposes]
    converted = 0
    for experiment in candidates:
        store = runtime.store
        row = store.experiment_subject(experiment.name, event.subject_key)
        if row is None or row.first_exposed_at is None:
            continue
        metric = experiment.metric
        # No later than its receipt, or the exposure if the gate was asked ahead of it.
        at = min(event.timestamp, max(received_at, row.first_exposed_at) + IN_EVENT_SKEW)
        window_end = row.first_exposed_at + timedelta(days=metric.within_days)
        if not row.first_exposed_at <= at <= window_end:
            continue
        if metric.kind == "once":
            if row.converted:
                continue
            amount, audited = 0.0, None
        else:
            amount = revenue_at(event.payload, metric.revenue_path)
            audited = amount
        if store.experiment_convert(experiment.name, event.subject_key, amount, at):
            hooks.audit(ExperimentConverted(experiment.name, event.subject_key, row.arm,
                                            message_key, audited))
            converted += 1
    return converted


def revenue_at(payload: Mapping[str, Any], path: tuple[str, ...]) -> float:
    """The finite number at the dotted ``path`` of ``payload``, else 0."""
    value: Any = payload
    for part in path:
        if not isinstance(value, Mapping):
            return 0.0
        value = value.get(part)
    if isinstance(value, bool) or not isinstance(value, int | float) or not isfinite(value):
        return 0.0
    return float(value)
