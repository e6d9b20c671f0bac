"""The rules section: each load, and the files, plugins and version changed since the last;
and each ``rules.changed`` record (a start on rules other than those the store last ran)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cdp_plugin.audit.report import ReportAggregator


def rules_section(agg: ReportAggregator) -> dict[str, Any]:
    loads = sorted(agg.rules_loads, key=lambda r: (r.ts, r.log, r.seq))
    listed, previous = [], None
    for load in loads:
        changed: list[dict[str, str | None]] = []
        plugins_added: list[str] = []
        plugins_removed: list[str] = []
        if previous is not None:
            for name in sorted(set(previous.files) | set(load.files)):
                before, after = previous.files.get(name), load.files.get(name)
                if before != after:
                    changed.append({"file": name, "before": before, "after": after})
            plugins_added = sorted(set(load.plugins) - set(previous.plugins))
            plugins_removed = sorted(set(previous.plugins) - set(load.plugins))
        listed.append({"ts": load.ts, "log": load.log, "rules_version": load.version,
                       "files": len(load.files), "first": previous is None,
                       "changed": changed, "plugins_added": plugins_added,
                       "plugins_removed": plugins_removed,
                       "previous_version": previous.version if previous else None,
                       "version_changed": previous is not None
                       and previous.version != load.version})
        previous = load
    versions = {load.version for load in loads} | set(agg.decisions_per_version)
    loads_per_version = Counter(load.version for load in loads)
    announced = [
        {"ts": change.ts, "log": change.log, "previous_version": change.previous_version,
         "rules_version": change.version,
         "files": [{"file": name, "before": change.previous_files.get(name),
                    "after": change.files.get(name)}
                   for name in sorted(set(change.previous_files) | set(change.files))]}
        for change in sorted(agg.rules_changes, key=lambda c: (c.ts, c.log, c.seq))]
    return {
        "loads": listed,
        "rules_changed": announced,
        "changes": sum(1 for load in listed if load["changed"] or load["plugins_added"]
                       or load["plugins_removed"] or load["version_changed"]),
        "by_version": {v: {"loads": loads_per_version.get(v, 0),
                           "decisions": agg.decisions_per_version.get(v, 0)}
                       for v in sorted(versions)},
    }
