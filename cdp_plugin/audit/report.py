"""Aggregate audit logs into the governance report: one streaming pass, bounded memory.

:func:`build_report` reads every log under a directory once, line by line,
and folds each record into counters; it never keeps the records. Memory grows
with the number of distinct codes (reasons, purposes, segments, field paths,
hours with activity), not with the number of records. The only per-subject
state is the set of subjects due for re-consent, kept as hashes so the report
can count them.

The result is a JSON-compatible ``dict`` (format ``REPORT_FORMAT``) that both
the JSON output and :mod:`cdp_plugin.audit.html` render. It never holds a
subject pseudonym or a message id: subjects are only counted. Its top-level
keys: ``format``, ``generated_at``, ``scope`` (logs, span, verification),
``summary`` (key figures), ``decisions`` (per time bucket and action),
``rejections`` (drop and quarantine reasons, invalid events by field,
duplicates), ``consent`` (rates per purpose, overall and per jurisdiction),
``segments`` (entries, exits, size over time, shadow vs active), ``rules``
(each load and the files whose hash changed since the previous one, and each
``rules.changed``: a start on rules other than those the store last ran),
``reconsent``, ``errors`` (plugin errors, audit repairs), ``minimization``,
``operations`` (activation checks, preference webhooks, double opt-in,
subject exports and erasures, the notice outbox, retention sweeps, and a
timeline of erasures, incomplete scrubs, dead letters and sweeps),
``experiments`` (assigned, exposed and converted subjects and revenue per
experiment and arm) and ``other`` (lifecycle records and record kinds this
report does not know).

Finding, reading and verifying the logs is :mod:`cdp_plugin.audit.report_logs`;
its public functions are importable from here too.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdp_plugin.audit.note import NoteVerifier
from cdp_plugin.audit.report_logs import claimed_origin, find_logs, read_log, verify_with
from cdp_plugin.audit.reporting.activity import OperationCounters, operations_section
from cdp_plugin.audit.reporting.common import (
    ACTIONS,
    CONSENT_STATES,
    HOURLY_BELOW,
    MAX_BUCKETS,
    MAX_LISTED,
    NO_JURISDICTION,
    TOP_PATHS,
    Record,
    _parse_ts,
    _RulesChange,
    _RulesLoad,
)
from cdp_plugin.audit.reporting.consent import consent_section, reconsent_section
from cdp_plugin.audit.reporting.decisions import decisions_section, rejections_section
from cdp_plugin.audit.reporting.experiments import ExperimentCounters, experiments_section
from cdp_plugin.audit.reporting.minimization import minimization_section
from cdp_plugin.audit.reporting.operations import errors_section, other_section
from cdp_plugin.audit.reporting.records import HANDLERS, unpack_decisions
from cdp_plugin.audit.reporting.rules import rules_section
from cdp_plugin.audit.reporting.segments import segments_section
from cdp_plugin.audit.reporting.timeline import _Timeline

__all__ = ["ACTIONS", "CONSENT_STATES", "HOURLY_BELOW", "MAX_BUCKETS", "MAX_LISTED",
           "NO_JURISDICTION", "REPORT_FORMAT", "TOP_PATHS", "Record", "ReportAggregator",
           "build_report", "claimed_origin", "find_logs", "read_log", "report_json",
           "verify_with"]

REPORT_FORMAT = 1
_HOUR = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").removesuffix("+00:00") + "Z"


@dataclass(slots=True)
class ReportAggregator:
    """Counters fed one record at a time; :meth:`result` turns them into the report.

    ``add`` never raises for odd record content: a field of the wrong type is
    treated as absent, and a kind this report does not know is counted under
    ``other``.
    """

    kinds: Counter[str] = field(default_factory=Counter)
    untimed: int = 0
    first_ts: str | None = None
    last_ts: str | None = None
    records_per_hour: Counter[str] = field(default_factory=Counter)
    decision_shapes: Counter[Any] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    actions_per_hour: Counter[tuple[str, str]] = field(default_factory=Counter)
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    jurisdictions: Counter[str] = field(default_factory=Counter)
    consent: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    purposes_seen: set[str] = field(default_factory=set)
    purposes_used: Counter[str] = field(default_factory=Counter)
    decisions_per_version: Counter[str] = field(default_factory=Counter)
    minimized: int = 0
    minimization_decisions: Counter[str] = field(default_factory=Counter)
    minimization_fields: Counter[str] = field(default_factory=Counter)
    minimized_paths: Counter[tuple[str, str]] = field(default_factory=Counter)
    segment_totals: Counter[tuple[str, bool]] = field(default_factory=Counter)
    segment_per_hour: Counter[tuple[str, str, bool]] = field(default_factory=Counter)
    segment_modes: Counter[tuple[str, bool]] = field(default_factory=Counter)
    segment_causes: Counter[str] = field(default_factory=Counter)
    invalid_fields: Counter[str] = field(default_factory=Counter)
    invalid_problems: Counter[tuple[str, str]] = field(default_factory=Counter)
    invalid_without_id: int = 0
    plugin_errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    plugin_error_types: Counter[str] = field(default_factory=Counter)
    consent_sources: Counter[str] = field(default_factory=Counter)
    consent_changes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    reconsent_reasons: Counter[str] = field(default_factory=Counter)
    reconsent_subjects: set[int] = field(default_factory=set)
    released: int = 0
    purged: Counter[str] = field(default_factory=Counter)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    key_rotations: list[dict[str, Any]] = field(default_factory=list)
    rules_loads: list[_RulesLoad] = field(default_factory=list)
    rules_changes: list[_RulesChange] = field(default_factory=list)
    operations: OperationCounters = field(default_factory=OperationCounters)
    experiments: ExperimentCounters = field(default_factory=ExperimentCounters)
    _hour_ok: dict[str, bool] = field(default_factory=dict)

    def add(self, record: Record, log: str = "") -> str | None:
        """Count one record of log ``log``; returns its hour key, ``None`` if its ts is unusable."""
        kind = record.get("kind")
        kind = kind if isinstance(kind, str) else "(no kind)"
        self.kinds[kind] += 1
        ts = record.get("ts")
        hour = self._hour(ts)
        if hour is None:
            self.untimed += 1
        else:
            assert isinstance(ts, str)
            self.records_per_hour[hour] += 1
            if self.first_ts is None or ts < self.first_ts:
                self.first_ts = ts
            if self.last_ts is None or ts > self.last_ts:
                self.last_ts = ts
        handler = HANDLERS.get(kind)
        if handler is not None:
            handler(self, record, hour, log)
        return hour

    def _hour(self, ts: object) -> str | None:
        """``YYYY-MM-DDTHH`` of an ISO-8601 UTC time; each distinct hour is checked once."""
        if not isinstance(ts, str):
            return None
        key = ts[:13]
        ok = self._hour_ok.get(key)
        if ok is None:
            ok = bool(_HOUR.fullmatch(key)) and _parse_ts(ts) is not None
            if ok or len(self._hour_ok) < 100_000:  # never let junk grow the memo unbounded
                self._hour_ok[key] = ok
        return key if ok else None

    # --- the report -------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        """The aggregated sections (everything but ``scope`` and ``generated_at``)."""
        unpack_decisions(self)
        timeline = _Timeline.build(self.records_per_hour, self.first_ts, self.last_ts)
        decisions = decisions_section(self, timeline)
        sections: dict[str, Any] = {
            "decisions": decisions,
            "rejections": rejections_section(self),
            "consent": consent_section(self),
            "segments": segments_section(self, timeline),
            "rules": rules_section(self),
            "reconsent": reconsent_section(self),
            "errors": errors_section(self),
            "minimization": minimization_section(self),
            "operations": operations_section(self),
            "experiments": experiments_section(self),
            "other": other_section(self),
        }
        sections["time"] = {"first": self.first_ts, "last": self.last_ts,
                            "unit": timeline.unit, "untimed_records": self.untimed}
        return sections


def build_report(directory: Path, verifiers: Sequence[NoteVerifier] = (), *,
                 now: datetime | None = None) -> dict[str, Any]:
    """The governance report for every log under ``directory`` (see the module docstring).

    Raises :class:`ConfigError` if ``directory`` holds no log, ``OSError`` if a
    file cannot be read. A log that fails verification is still reported,
    marked ``failed`` with the first problem found.
    """
    aggregator = ReportAggregator()
    logs = []
    for log_dir in find_logs(Path(directory)):
        name = log_dir.name
        entry = read_log(log_dir, aggregator, name)
        entry["verification"] = verify_with(log_dir, verifiers)
        logs.append(entry)
    sections = aggregator.result()
    statuses = Counter(log["verification"]["status"] for log in logs)
    if not verifiers:
        overall = "not verified"
    else:
        overall = "failed" if statuses.get("failed") else "verified"
    records = sum(log["records"] for log in logs)
    time = sections.pop("time")
    scope = {"directory": Path(directory).name, "logs": logs, "records": records,
             "first_ts": time["first"], "last_ts": time["last"], "unit": time["unit"],
             "untimed_records": time["untimed_records"],
             "unreadable_lines": sum(log["unreadable_lines"] for log in logs),
             "verification": {"status": overall, "verified": statuses.get("verified", 0),
                              "failed": statuses.get("failed", 0),
                              "not_verified": statuses.get("not verified", 0)}}
    decisions = sections["decisions"]
    summary = {
        "records": records, "logs": len(logs), "decisions": decisions["total"],
        **{action: decisions["by_action"][action] for action in ACTIONS},
        "invalid": sections["rejections"]["invalid"]["events"],
        "duplicates": sections["rejections"]["duplicates"],
        "plugin_errors": sections["errors"]["plugin_errors"],
        "audit_repairs": sections["errors"]["repairs"],
        "rules_loads": len(sections["rules"]["loads"]),
        "rules_changes": sections["rules"]["changes"],
        "reconsent_subjects": sections["reconsent"]["subjects"],
        "unknown_records": sections["other"]["unknown_records"],
        "verification": overall,
    }
    return {"format": REPORT_FORMAT, "generated_at": _iso(now or datetime.now(UTC)),
            "scope": scope, "summary": summary, **sections}


def report_json(report: Mapping[str, Any]) -> str:
    """The report as indented JSON text ending in a newline.

    Keys keep the report's order (ranked counts stay most frequent first).
    """
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
