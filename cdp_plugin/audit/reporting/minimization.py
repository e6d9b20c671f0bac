"""The minimization section: decisions and fields per step, the most minimized paths."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cdp_plugin.audit.reporting.common import TOP_PATHS, _by_count, _ranked

if TYPE_CHECKING:
    from cdp_plugin.audit.report import ReportAggregator


def minimization_section(agg: ReportAggregator) -> dict[str, Any]:
    top: dict[str, list[dict[str, Any]]] = {}
    for (step, path), count in sorted(agg.minimized_paths.items(), key=_by_count):
        bucket = top.setdefault(step, [])
        if len(bucket) < TOP_PATHS:
            bucket.append({"path": path, "count": count})
    steps = list(_ranked(agg.minimization_decisions))
    return {
        "decisions": agg.minimized,
        "by_action": {s: {"decisions": agg.minimization_decisions[s],
                          "fields": agg.minimization_fields[s]} for s in steps},
        "top_paths": top,
    }
