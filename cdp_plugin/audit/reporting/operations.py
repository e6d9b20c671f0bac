"""The errors section (plugin errors, audit repairs) and the other section (lifecycle records)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from cdp_plugin.audit.reporting.common import _by_count, _ranked
from cdp_plugin.audit.reporting.records import HANDLERS

if TYPE_CHECKING:
    from cdp_plugin.audit.report import ReportAggregator


def errors_section(agg: ReportAggregator) -> dict[str, Any]:
    return {
        "plugin_errors": agg.kinds.get("plugin.error", 0),
        "by_plugin": [{"plugin": p, "hook": h, "count": n}
                      for (p, h), n in sorted(agg.plugin_errors.items(), key=_by_count)],
        "by_error_type": _ranked(agg.plugin_error_types),
        "repairs": agg.kinds.get("audit.repair", 0),
        "repair_list": sorted(agg.repairs, key=lambda r: (str(r["ts"]), r["log"])),
    }


def other_section(agg: ReportAggregator) -> dict[str, Any]:
    unknown = {k: n for k, n in agg.kinds.items() if k not in HANDLERS}
    return {
        "records_by_kind": _ranked(agg.kinds),
        "unknown_kinds": _ranked(Counter(unknown)),
        "unknown_records": sum(unknown.values()),
        "quarantine_released": agg.released,
        "quarantine_purged": _ranked(agg.purged),
        "subjects_erased": agg.kinds.get("subject.erased", 0),
        "keys_rotated": sorted(agg.key_rotations, key=lambda r: (str(r["ts"]), r["log"])),
    }
