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
(each load and the files whose hash changed since the previous one),
``reconsent``, ``errors`` (plugin errors, audit repairs), ``minimization``
and ``other`` (lifecycle records and record kinds this report does not know).

Finding, reading and verifying the logs is :mod:`cdp_plugin.audit.report_logs`;
its public functions are importable from here too.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cdp_plugin.audit.note import NoteVerifier
from cdp_plugin.audit.report_logs import claimed_origin, find_logs, read_log, verify_with

__all__ = ["ACTIONS", "CONSENT_STATES", "HOURLY_BELOW", "MAX_BUCKETS", "MAX_LISTED",
           "NO_JURISDICTION", "REPORT_FORMAT", "TOP_PATHS", "Record", "ReportAggregator",
           "build_report", "claimed_origin", "find_logs", "read_log", "report_json",
           "verify_with"]

REPORT_FORMAT = 1
ACTIONS = ("allow", "drop", "quarantine")
CONSENT_STATES = ("granted", "denied", "unknown")
NO_JURISDICTION = "(none)"
HOURLY_BELOW = timedelta(days=3)  # a shorter span is reported per hour, a longer one per day
MAX_BUCKETS = 4000  # beyond this many days, only days with records are listed
TOP_PATHS = 20
MAX_LISTED = 1000  # repairs and key rotations listed one by one; the rest are only counted
_HOUR = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}")

Record = Mapping[str, Any]


def _strings(value: object) -> list[str]:
    """The string items of a list or tuple; anything else in a record's list is ignored."""
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, str)]


def _hashable(value: object) -> object:
    """``value`` with every unhashable part (a list or object where a code belongs) as None."""
    if isinstance(value, tuple):
        return tuple(_hashable(item) for item in value)
    try:
        hash(value)
    except TypeError:
        return None
    return value


def _label(value: object, default: str) -> str:
    return value if isinstance(value, str) and value else default


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _parse_ts(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").removesuffix("+00:00") + "Z"


@dataclass(slots=True)
class _RulesLoad:
    ts: str
    seq: int
    log: str
    version: str
    files: dict[str, str]
    plugins: list[str]


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
        handler = _HANDLERS.get(kind)
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

    # --- one handler per record kind ----------------------------------------------

    def _decision(self, record: Record, hour: str | None, log: str) -> None:
        # The hot path: count the record's shape, its codes without message id and subject
        # (distinct shapes are few), and unpack shapes once, in _unpack_decisions.
        get = record.get
        reasons, purposes, consent = get("reasons"), get("purposes"), get("consent")
        minimization, action = get("minimization"), get("action")
        shape = (
            action, get("jurisdiction"), tuple(reasons) if type(reasons) is list else (),
            tuple(purposes) if type(purposes) is list else (), get("rules_version"),
            tuple(consent.items()) if type(consent) is dict else (),
            tuple((step, tuple(paths) if type(paths) is list else ())
                  for step, paths in minimization.items())
            if type(minimization) is dict else (),
        )
        try:
            self.decision_shapes[shape] += 1
        except TypeError:  # odd content, e.g. a list where a code belongs: count it as absent
            self.decision_shapes[_hashable(shape)] += 1
        if hour is not None:
            self.actions_per_hour[(hour, _label(action, "(none)"))] += 1
        segments = get("segments")
        if type(segments) is list:
            for change in segments:
                name = change.get("segment") if type(change) is dict else None
                if not isinstance(name, str):
                    continue
                entered = change.get("entered") is True
                self.segment_totals[(name, entered)] += 1
                self.segment_modes[(name, change.get("active") is not False)] += 1
                if hour is not None:
                    self.segment_per_hour[(name, hour, entered)] += 1

    def _unpack_decisions(self) -> None:
        """Fold the counted decision shapes into the per-field counters (then forget them)."""
        for shape, n in self.decision_shapes.items():
            action, jurisdiction, reasons, purposes, version, consent, minimization = shape
            action = _label(action, "(none)")
            self.actions[action] += n
            if action != "allow":
                for reason in _strings(reasons):
                    self.reasons[(action, reason)] += n
            jurisdiction = _label(jurisdiction, NO_JURISDICTION)
            self.jurisdictions[jurisdiction] += n
            for purpose in _strings(purposes):
                self.purposes_used[purpose] += n
                self.purposes_seen.add(purpose)
            self.decisions_per_version[_label(version, "(none)")] += n
            for purpose, state in consent:
                self.purposes_seen.add(purpose)
                # Anything but granted or denied counts as unknown, as the pipeline treats it.
                if state == "granted" or state == "denied":
                    self.consent[(jurisdiction, purpose, state)] += n
            self.minimized += n if minimization else 0
            for step, value in minimization:
                paths = _strings(value)
                self.minimization_decisions[step] += n
                self.minimization_fields[step] += n * len(paths)
                for path in paths:
                    self.minimized_paths[(step, path)] += n
        self.decision_shapes.clear()

    def _invalid(self, record: Record, hour: str | None, log: str) -> None:
        if record.get("message_id") is None:
            self.invalid_without_id += 1
        problems = record.get("problems")
        if isinstance(problems, dict):
            for path, problem in problems.items():
                self.invalid_fields[path] += 1
                self.invalid_problems[(path, str(problem)[:200])] += 1

    def _plugin_error(self, record: Record, hour: str | None, log: str) -> None:
        plugin = _label(record.get("plugin"), "(unknown)")
        self.plugin_errors[(plugin, _label(record.get("hook"), "(unknown)"))] += 1
        self.plugin_error_types[_label(record.get("error_type"), "(unknown)")] += 1

    def _consent_recorded(self, record: Record, hour: str | None, log: str) -> None:
        self.consent_sources[_label(record.get("source"), "(unknown)")] += 1
        changes = record.get("changes")
        for change in changes if isinstance(changes, list) else ():
            if isinstance(change, dict) and isinstance(change.get("purpose"), str):
                self.consent_changes[(change["purpose"], str(change.get("previous")),
                                      str(change.get("current")))] += 1

    def _repair(self, record: Record, hour: str | None, log: str) -> None:
        if len(self.repairs) < MAX_LISTED:
            cut = record.get("truncated_bytes")
            self.repairs.append({"ts": record.get("ts"), "log": log,
                                 "segment": _label(record.get("segment"), "(unknown)"),
                                 "truncated_bytes": cut if isinstance(cut, int) else None})

    def _rules_loaded(self, record: Record, hour: str | None, log: str) -> None:
        files = record.get("files")
        seq = record.get("seq")
        self.rules_loads.append(_RulesLoad(
            ts=_label(record.get("ts"), ""), seq=seq if isinstance(seq, int) else 0, log=log,
            version=_label(record.get("rules_version"), "(none)"),
            files={k: str(v) for k, v in files.items()} if isinstance(files, dict) else {},
            plugins=_strings(record.get("plugins")),
        ))

    def _reconsent_due(self, record: Record, hour: str | None, log: str) -> None:
        self.reconsent_reasons[_label(record.get("reason"), "(unknown)")] += 1
        subject = record.get("subject")
        if isinstance(subject, str):
            # Only counted: a hash is enough and keeps the pseudonyms themselves out of memory.
            self.reconsent_subjects.add(hash(subject))

    def _released(self, record: Record, hour: str | None, log: str) -> None:
        count = record.get("count")
        self.released += count if isinstance(count, int) else 1

    def _purged(self, record: Record, hour: str | None, log: str) -> None:
        count = record.get("count")
        self.purged[_label(record.get("reason"), "(unknown)")] += (
            count if isinstance(count, int) else 1)

    def _keys_rotated(self, record: Record, hour: str | None, log: str) -> None:
        if len(self.key_rotations) < MAX_LISTED:
            self.key_rotations.append({"ts": record.get("ts"), "log": log})

    # --- the report -------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        """The aggregated sections (everything but ``scope`` and ``generated_at``)."""
        self._unpack_decisions()
        timeline = _Timeline.build(self.records_per_hour, self.first_ts, self.last_ts)
        decisions = self._decisions(timeline)
        sections: dict[str, Any] = {
            "decisions": decisions,
            "rejections": self._rejections(),
            "consent": self._consent(),
            "segments": self._segments(timeline),
            "rules": self._rules(),
            "reconsent": self._reconsent(),
            "errors": self._errors(),
            "minimization": self._minimization(),
            "other": self._other(),
        }
        sections["time"] = {"first": self.first_ts, "last": self.last_ts,
                            "unit": timeline.unit, "untimed_records": self.untimed}
        return sections

    def _decisions(self, timeline: _Timeline) -> dict[str, Any]:
        per_bucket: dict[str, Counter[str]] = {label: Counter() for label in timeline.labels}
        for (hour, action), count in self.actions_per_hour.items():
            per_bucket[timeline.bucket(hour)][action] += count
        actions = list(ACTIONS) + sorted(set(self.actions) - set(ACTIONS))
        total = sum(self.actions.values())
        return {
            "total": total,
            "by_action": {a: self.actions.get(a, 0) for a in actions},
            "share": {a: _share(self.actions.get(a, 0), total) for a in actions},
            "unit": timeline.unit,
            "series": [{"bucket": label, **{a: per_bucket[label].get(a, 0) for a in actions}}
                       for label in timeline.labels],
        }

    def _rejections(self) -> dict[str, Any]:
        reasons: dict[str, dict[str, int]] = {"drop": {}, "quarantine": {}}
        for (action, reason), count in sorted(self.reasons.items(), key=_by_count):
            reasons.setdefault(action, {})[reason] = count
        return {
            "reasons": reasons,
            "invalid": {
                "events": self.kinds.get("event.invalid", 0),
                "without_message_id": self.invalid_without_id,
                "by_field": _ranked(self.invalid_fields),
                "by_problem": [{"field": f, "problem": p, "count": n}
                               for (f, p), n in sorted(self.invalid_problems.items(),
                                                       key=_by_count)],
            },
            "duplicates": self.kinds.get("event.duplicate", 0),
        }

    def _consent(self) -> dict[str, Any]:
        purposes = sorted(self.purposes_seen)

        def rates(jurisdictions: Iterable[str]) -> dict[str, dict[str, Any]]:
            chosen = list(jurisdictions)
            decisions = sum(self.jurisdictions[j] for j in chosen)
            table = {}
            for purpose in purposes:
                granted = sum(self.consent[(j, purpose, "granted")] for j in chosen)
                denied = sum(self.consent[(j, purpose, "denied")] for j in chosen)
                counts = {"granted": granted, "denied": denied,
                          "unknown": decisions - granted - denied}
                table[purpose] = {**counts, **{f"{state}_share": _share(counts[state], decisions)
                                               for state in CONSENT_STATES}}
            return table

        ranked = [j for j, _ in sorted(self.jurisdictions.items(), key=_by_count)]
        return {
            "decisions": sum(self.jurisdictions.values()),
            "purposes": purposes,
            "overall": rates(ranked),
            "by_jurisdiction": {j: {"decisions": self.jurisdictions[j], "purposes": rates([j])}
                                for j in ranked},
            "purposes_used": {p: self.purposes_used.get(p, 0) for p in purposes},
            "updates": {
                "records": self.kinds.get("consent.recorded", 0),
                "by_source": _ranked(self.consent_sources),
                "changes": [{"purpose": p, "previous": before, "current": after, "count": n}
                            for (p, before, after), n in sorted(self.consent_changes.items())],
            },
        }

    def _segments(self, timeline: _Timeline) -> dict[str, Any]:
        names = sorted({name for name, _ in self.segment_totals})
        moves: dict[tuple[str, str, bool], int] = Counter()
        for (name, hour, entered), count in self.segment_per_hour.items():
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
            entries, exits = self.segment_totals[(name, True)], self.segment_totals[(name, False)]
            active, shadow = self.segment_modes[(name, True)], self.segment_modes[(name, False)]
            per_segment[name] = {
                "entries": entries, "exits": exits, "net": entries - exits, "peak": peak,
                "churn": _share(exits, entries), "active_changes": active,
                "shadow_changes": shadow,
                "mode": "mixed" if active and shadow else "shadow" if shadow else "active",
            }
            series[name] = points
        return {"unit": timeline.unit, "names": names, "per_segment": per_segment,
                "series": series}

    def _rules(self) -> dict[str, Any]:
        loads = sorted(self.rules_loads, key=lambda r: (r.ts, r.log, r.seq))
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
        versions = {load.version for load in loads} | set(self.decisions_per_version)
        loads_per_version = Counter(load.version for load in loads)
        return {
            "loads": listed,
            "changes": sum(1 for load in listed if load["changed"] or load["plugins_added"]
                           or load["plugins_removed"] or load["version_changed"]),
            "by_version": {v: {"loads": loads_per_version.get(v, 0),
                               "decisions": self.decisions_per_version.get(v, 0)}
                           for v in sorted(versions)},
        }

    def _reconsent(self) -> dict[str, Any]:
        records = self.kinds.get("consent.reconsent_due", 0)
        return {"present": records > 0, "records": records,
                "subjects": len(self.reconsent_subjects),
                "by_reason": _ranked(self.reconsent_reasons)}

    def _errors(self) -> dict[str, Any]:
        return {
            "plugin_errors": self.kinds.get("plugin.error", 0),
            "by_plugin": [{"plugin": p, "hook": h, "count": n}
                          for (p, h), n in sorted(self.plugin_errors.items(), key=_by_count)],
            "by_error_type": _ranked(self.plugin_error_types),
            "repairs": self.kinds.get("audit.repair", 0),
            "repair_list": sorted(self.repairs, key=lambda r: (str(r["ts"]), r["log"])),
        }

    def _minimization(self) -> dict[str, Any]:
        top: dict[str, list[dict[str, Any]]] = {}
        for (step, path), count in sorted(self.minimized_paths.items(), key=_by_count):
            bucket = top.setdefault(step, [])
            if len(bucket) < TOP_PATHS:
                bucket.append({"path": path, "count": count})
        steps = list(_ranked(self.minimization_decisions))
        return {
            "decisions": self.minimized,
            "by_action": {s: {"decisions": self.minimization_decisions[s],
                              "fields": self.minimization_fields[s]} for s in steps},
            "top_paths": top,
        }

    def _other(self) -> dict[str, Any]:
        unknown = {k: n for k, n in self.kinds.items() if k not in _HANDLERS}
        return {
            "records_by_kind": _ranked(self.kinds),
            "unknown_kinds": _ranked(Counter(unknown)),
            "unknown_records": sum(unknown.values()),
            "quarantine_released": self.released,
            "quarantine_purged": _ranked(self.purged),
            "subjects_erased": self.kinds.get("subject.erased", 0),
            "keys_rotated": sorted(self.key_rotations, key=lambda r: (str(r["ts"]), r["log"])),
        }


_Handler = Callable[[ReportAggregator, Record, str | None, str], None]


def _counted_only(aggregator: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    """Kinds whose record count is all the report shows."""


_HANDLERS: dict[str, _Handler] = {
    "event.decision": ReportAggregator._decision,
    "event.invalid": ReportAggregator._invalid,
    "event.duplicate": _counted_only,
    "plugin.error": ReportAggregator._plugin_error,
    "consent.recorded": ReportAggregator._consent_recorded,
    "audit.repair": ReportAggregator._repair,
    "rules.loaded": ReportAggregator._rules_loaded,
    "consent.reconsent_due": ReportAggregator._reconsent_due,
    "quarantine.released": ReportAggregator._released,
    "quarantine.purged": ReportAggregator._purged,
    "subject.erased": _counted_only,
    "keys.rotated": ReportAggregator._keys_rotated,
}


def _by_count(item: tuple[Any, int]) -> tuple[int, str]:
    return -item[1], str(item[0])


def _ranked(counts: Mapping[str, int]) -> dict[str, int]:
    """Most frequent first, ties by name: the order tables and bar charts show."""
    return dict(sorted(counts.items(), key=_by_count))


@dataclass(frozen=True, slots=True)
class _Timeline:
    """The report's time buckets: hours for a span under three days, else days."""

    unit: str
    labels: list[str]
    bucket: Callable[[str], str]

    @classmethod
    def build(cls, hours: Iterable[str], first: str | None, last: str | None) -> _Timeline:
        keys = sorted(hours)
        if not keys:
            return cls("day", [], lambda hour: hour[:10])
        start, end = (_parse_ts(first or ""), _parse_ts(last or ""))
        span = end - start if start and end else timedelta(0)
        first_hour = datetime.strptime(keys[0], "%Y-%m-%dT%H").replace(tzinfo=UTC)
        last_hour = datetime.strptime(keys[-1], "%Y-%m-%dT%H").replace(tzinfo=UTC)
        if span < HOURLY_BELOW:
            count = int((last_hour - first_hour) / timedelta(hours=1)) + 1
            labels = [(first_hour + timedelta(hours=n)).strftime("%Y-%m-%dT%H:00Z")
                      for n in range(count)]
            return cls("hour", labels, lambda hour: hour + ":00Z")
        days = (last_hour.date() - first_hour.date()).days + 1
        if days > MAX_BUCKETS:
            labels = sorted({key[:10] for key in keys})
        else:
            labels = [(first_hour.date() + timedelta(days=n)).isoformat() for n in range(days)]
        return cls("day", labels, lambda hour: hour[:10])


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
