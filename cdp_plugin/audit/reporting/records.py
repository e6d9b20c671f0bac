"""One handler per audit record kind: each folds a record into the aggregator's counters."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cdp_plugin.audit.reporting import activity, experiments
from cdp_plugin.audit.reporting.common import (
    MAX_LISTED,
    NO_JURISDICTION,
    Record,
    _RulesChange,
    _RulesLoad,
)

if TYPE_CHECKING:
    from cdp_plugin.audit.report import ReportAggregator


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


def _decision(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
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
        agg.decision_shapes[shape] += 1
    except TypeError:  # odd content, e.g. a list where a code belongs: count it as absent
        agg.decision_shapes[_hashable(shape)] += 1
    if hour is not None:
        agg.actions_per_hour[(hour, _label(action, "(none)"))] += 1
    segments = get("segments")
    if type(segments) is list:
        for change in segments:
            name = change.get("segment") if type(change) is dict else None
            if not isinstance(name, str):
                continue
            entered = change.get("entered") is True
            agg.segment_totals[(name, entered)] += 1
            agg.segment_modes[(name, change.get("active") is not False)] += 1
            if hour is not None:
                agg.segment_per_hour[(name, hour, entered)] += 1


def unpack_decisions(agg: ReportAggregator) -> None:
    """Fold the counted decision shapes into the per-field counters (then forget them)."""
    for shape, n in agg.decision_shapes.items():
        action, jurisdiction, reasons, purposes, version, consent, minimization = shape
        action = _label(action, "(none)")
        agg.actions[action] += n
        if action != "allow":
            for reason in _strings(reasons):
                agg.reasons[(action, reason)] += n
        jurisdiction = _label(jurisdiction, NO_JURISDICTION)
        agg.jurisdictions[jurisdiction] += n
        for purpose in _strings(purposes):
            agg.purposes_used[purpose] += n
            agg.purposes_seen.add(purpose)
        agg.decisions_per_version[_label(version, "(none)")] += n
        for purpose, state in consent:
            agg.purposes_seen.add(purpose)
            # Anything but granted or denied counts as unknown, as the pipeline treats it.
            if state == "granted" or state == "denied":
                agg.consent[(jurisdiction, purpose, state)] += n
        agg.minimized += n if minimization else 0
        for step, value in minimization:
            paths = _strings(value)
            agg.minimization_decisions[step] += n
            agg.minimization_fields[step] += n * len(paths)
            for path in paths:
                agg.minimized_paths[(step, path)] += n
    agg.decision_shapes.clear()


def _invalid(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    if record.get("message_id") is None:
        agg.invalid_without_id += 1
    problems = record.get("problems")
    if isinstance(problems, dict):
        for path, problem in problems.items():
            agg.invalid_fields[path] += 1
            agg.invalid_problems[(path, str(problem)[:200])] += 1


def _plugin_error(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    plugin = _label(record.get("plugin"), "(unknown)")
    agg.plugin_errors[(plugin, _label(record.get("hook"), "(unknown)"))] += 1
    agg.plugin_error_types[_label(record.get("error_type"), "(unknown)")] += 1


def _consent_recorded(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    agg.consent_sources[_label(record.get("source"), "(unknown)")] += 1
    changes = record.get("changes")
    for change in changes if isinstance(changes, list) else ():
        if isinstance(change, dict) and isinstance(change.get("purpose"), str):
            agg.consent_changes[(change["purpose"], str(change.get("previous")),
                                  str(change.get("current")))] += 1


def _repair(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    if len(agg.repairs) < MAX_LISTED:
        cut = record.get("truncated_bytes")
        agg.repairs.append({"ts": record.get("ts"), "log": log,
                             "segment": _label(record.get("segment"), "(unknown)"),
                             "truncated_bytes": cut if isinstance(cut, int) else None})


def _rules_loaded(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    files = record.get("files")
    seq = record.get("seq")
    agg.rules_loads.append(_RulesLoad(
        ts=_label(record.get("ts"), ""), seq=seq if isinstance(seq, int) else 0, log=log,
        version=_label(record.get("rules_version"), "(none)"),
        files={k: str(v) for k, v in files.items()} if isinstance(files, dict) else {},
        plugins=_strings(record.get("plugins")),
    ))


def _rules_changed(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    """A start that found the store had last run other rules (bounded like repairs)."""
    if len(agg.rules_changes) >= MAX_LISTED:
        return
    seq = record.get("seq")

    def digests(value: object) -> dict[str, str]:
        return {k: str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    agg.rules_changes.append(_RulesChange(
        ts=_label(record.get("ts"), ""), seq=seq if isinstance(seq, int) else 0, log=log,
        previous_version=_label(record.get("previous_version"), "(none)"),
        version=_label(record.get("rules_version"), "(none)"),
        previous_files=digests(record.get("previous_files")),
        files=digests(record.get("files")),
    ))


def _segment_changed(agg: ReportAggregator, record: Record, hour: str | None,
                     log: str) -> None:
    """A move outside an event decision (a tick, a withdrawal): the same counters as the
    moves decisions list, so segment sizes follow every entry and exit."""
    name = record.get("segment")
    if not isinstance(name, str):
        return
    entered = record.get("entered") is True
    agg.segment_totals[(name, entered)] += 1
    agg.segment_modes[(name, record.get("active") is not False)] += 1
    agg.segment_causes[_label(record.get("cause"), "(unknown)")] += 1
    if hour is not None:
        agg.segment_per_hour[(name, hour, entered)] += 1


def _reconsent_due(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    for reason in _strings(record.get("reasons")) or ["(unknown)"]:
        agg.reconsent_reasons[reason] += 1
    subject = record.get("subject")
    if isinstance(subject, str):
        # Only counted: a hash is enough and keeps the pseudonyms themselves out of memory.
        agg.reconsent_subjects.add(hash(subject))


def _released(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    agg.released += 1  # one record per held event


def _purged(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    """One record per held event, counted under each of its reasons (as drop reasons are)."""
    for reason in _strings(record.get("reasons")) or ["(unknown)"]:
        agg.purged[reason] += 1


def _keys_rotated(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    if len(agg.key_rotations) < MAX_LISTED:
        agg.key_rotations.append({"ts": record.get("ts"), "log": log})


def _counted_only(aggregator: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    """Kinds whose record count is all the report shows."""


HANDLERS: dict[str, Callable[[ReportAggregator, Record, str | None, str], None]] = {
    "event.decision": _decision,
    "event.invalid": _invalid,
    "event.duplicate": _counted_only,
    "plugin.error": _plugin_error,
    "segment.changed": _segment_changed,
    "consent.recorded": _consent_recorded,
    "audit.repair": _repair,
    "rules.loaded": _rules_loaded,
    "rules.changed": _rules_changed,
    "consent.reconsent_due": _reconsent_due,
    "quarantine.released": _released,
    "quarantine.purged": _purged,
    "keys.rotated": _keys_rotated,
    "activation.checked": activity.activation_checked,
    "preferences.received": activity.preferences_received,
    "preferences.frequency_caps": activity.frequency_caps,
    "optin.requested": activity.optin,
    "optin.confirmed": activity.optin,
    "optin.cancelled": activity.optin,
    "subject.exported": _counted_only,
    "subject.erased": activity.subject_erased,
    "subject.scrubbed": activity.subject_scrubbed,
    "outbox.queued": activity.outbox_queued,
    "outbox.attempt": activity.outbox_attempt,
    "outbox.delivered": activity.outbox_outcome,
    "outbox.retry": activity.outbox_outcome,
    "outbox.dead_lettered": activity.outbox_outcome,
    **dict.fromkeys(activity.DELIVERY_STEPS, activity.delivery),
    "retention.swept": activity.retention_swept,
    "experiment.assigned": experiments.assigned,
    "experiment.exposed": experiments.exposed,
    "experiment.converted": experiments.converted,
}
"""The record kinds the report knows (every kind the plugin writes); any other kind is
only counted, under ``other``."""
