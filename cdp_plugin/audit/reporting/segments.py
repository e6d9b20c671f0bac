"""The segments section: entries, exits and size over time, shadow against active."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from cdp_plugin.audit.reporting.common import _ranked, _share
from cdp_plugin.audit.reporting.timeline import _Timeline

if TYPE_CHECKING:
    from cdp_plugin.audit.report import ReportAggregator


def segments_section(agg: ReportAggregator, timeline: _Timeline) -> dict[str, Any]:
    names = sorted({name for name, _ in agg.segment_totals})
    moves: dict[tuple[str, str, bool], int] = Counter()
    for (name, hour, entered), count in agg.segment_per_hour.items():
        moves[(name, timeline.bucket(hour), entered)] += count
    per_segment, series = {}, {}
    for name in names:
        size, peak, points = 0, 0, []
        for label in timeline.labels:
            entries = moves.get((name, label, True), 0)
            exits = moves.get((name, label, False), 0)
            size += entries - exits
            peak = max(peak, size)
            points.append({"bucket": label, "entries": entries, "exits": exits, "size": size})
        entries, exits = agg.segment_totals[(name, True)], agg.segment_totals[(name, False)]
        active, shadow = agg.segment_modes[(name, True)], agg.segment_modes[(name, False)]
        per_segment[name] = {
            "entries": entries, "exits": exits, "net": entries - exits, "peak": peak,
            "churn": _share(exits, entries), "active_changes": active,
            "shadow_changes": shadow,
            "mode": "mixed" if active and shadow else "shadow" if shadow else "active",
        }
        series[name] = points
    return {"unit": timeline.unit, "names": names, "per_segment": per_segment,
            "series": series, "moves_outside_events": _ranked(agg.segment_causes)}
