"""The decisions section (actions over time) and the rejections section (reasons, invalids)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from cdp_plugin.audit.reporting.common import ACTIONS, _by_count, _ranked, _share
from cdp_plugin.audit.reporting.timeline import _Timeline

if TYPE_CHECKING:
    from cdp_plugin.audit.report import ReportAggregator


def decisions_section(agg: ReportAggregator, timeline: _Timeline) -> dict[str, Any]:
    per_bucket: dict[str, Counter[str]] = {label: Counter() for label in timeline.labels}
    for (hour, action), count in agg.actions_per_hour.items():
        per_bucket[timeline.bucket(hour)][action] += count
    actions = list(ACTIONS) + sorted(set(agg.actions) - set(ACTIONS))
    total = sum(agg.actions.values())
    return {
        "total": total,
        "by_action": {a: agg.actions.get(a, 0) for a in actions},
        "share": {a: _share(agg.actions.get(a, 0), total) for a in actions},
        "unit": timeline.unit,
        "series": [{"bucket": label, **{a: per_bucket[label].get(a, 0) for a in actions}}
                   for label in timeline.labels],
    }


def rejections_section(agg: ReportAggregator) -> dict[str, Any]:
    reasons: dict[str, dict[str, int]] = {"drop": {}, "quarantine": {}}
    for (action, reason), count in sorted(agg.reasons.items(), key=_by_count):
        reasons.setdefault(action, {})[reason] = count
    return {
        "reasons": reasons,
        "invalid": {
            "events": agg.kinds.get("event.invalid", 0),
            "without_message_id": agg.invalid_without_id,
            "by_field": _ranked(agg.invalid_fields),
            "by_problem": [{"field": f, "problem": p, "count": n}
                           for (f, p), n in sorted(agg.invalid_problems.items(),
                                                   key=_by_count)],
        },
        "duplicates": agg.kinds.get("event.duplicate", 0),
    }
