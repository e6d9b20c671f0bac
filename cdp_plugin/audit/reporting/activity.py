"""The operations section: activation checks, preference webhooks, double opt-in, subject
access and erasure, the notice outbox, event deliveries, retention sweeps, and a
timeline of the notable ones (erasures, incomplete scrubs, dead letters, sweeps).
Deliveries are counted in events (a record's ``messages``), per destination.

Each handler folds one record kind into :class:`OperationCounters`; like every
handler it treats a field of the wrong type as absent and never raises. Only
codes, channel, destination and kind names are kept: subjects are not even
counted here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cdp_plugin.audit.reporting.common import MAX_LISTED, Record, _ranked

if TYPE_CHECKING:
    from cdp_plugin.audit.report import ReportAggregator

OUTBOX_OUTCOMES = {"outbox.delivered": "delivered", "outbox.retry": "retried",
                   "outbox.dead_lettered": "dead_lettered"}
DELIVERY_STEPS = {"delivery.queued": "queued", "delivery.attempt": "attempted",
                  "delivery.delivered": "delivered", "delivery.retry": "retried",
                  "delivery.dead_lettered": "dead_lettered", "delivery.cancelled": "cancelled",
                  "delivery.requeued": "requeued"}


@dataclass(slots=True)
class OperationCounters:
    """What the operations section counts; one instance per report."""

    activation: Counter[tuple[str, bool, str]] = field(default_factory=Counter)
    webhooks: int = 0
    updates: int = 0
    caps: Counter[str] = field(default_factory=Counter)
    optin: Counter[tuple[str, str]] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    erasure_notices: int = 0
    scrubs: Counter[bool] = field(default_factory=Counter)
    notices: Counter[str] = field(default_factory=Counter)
    outbox: Counter[tuple[str, str]] = field(default_factory=Counter)
    outbox_errors: Counter[str] = field(default_factory=Counter)
    deliveries: Counter[tuple[str, str]] = field(default_factory=Counter)
    delivery_errors: Counter[str] = field(default_factory=Counter)
    swept: Counter[str] = field(default_factory=Counter)
    timeline: list[dict[str, Any]] = field(default_factory=list)


def _text(value: object, default: str = "(unknown)") -> str:
    return value if isinstance(value, str) and value else default


def _count(value: object) -> int:
    return value if type(value) is int and value >= 0 else 0


def _counts(value: object) -> dict[str, int]:
    """A record's ``name -> count`` mapping, keeping only non-negative integer counts."""
    if not isinstance(value, dict):
        return {}
    return {str(k): n for k, n in value.items() if type(n) is int and n >= 0}


def _note(agg: ReportAggregator, record: Record, log: str, **fields: Any) -> None:
    """Add a timeline entry (the first MAX_LISTED only; the counts cover the rest)."""
    if len(agg.operations.timeline) < MAX_LISTED:
        agg.operations.timeline.append({"ts": record.get("ts"), "log": log,
                                        "kind": record.get("kind"), **fields})


def activation_checked(agg: ReportAggregator, record: Record, hour: str | None,
                       log: str) -> None:
    allowed = record.get("allowed") is True
    agg.operations.activation[(_text(record.get("channel")), allowed,
                               _text(record.get("reason")))] += 1


def preferences_received(agg: ReportAggregator, record: Record, hour: str | None,
                         log: str) -> None:
    agg.operations.webhooks += 1
    subjects = record.get("subjects")
    agg.operations.updates += len(subjects) if isinstance(subjects, list) else 0


def frequency_caps(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    channels = record.get("channels")
    for channel in channels if isinstance(channels, list) else ():
        agg.operations.caps[_text(channel)] += 1


def optin(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    step = _text(record.get("kind")).removeprefix("optin.")
    # A cancellation record stands for every pending request it cancelled.
    count = _count(record.get("requests")) if step == "cancelled" else 1
    agg.operations.optin[(_text(record.get("channel")), step)] += count


def subject_erased(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    deleted = _counts(record.get("deleted"))
    agg.operations.deleted.update(deleted)
    notices = _count(record.get("notices"))
    agg.operations.erasure_notices += notices
    _note(agg, record, log, deleted=deleted, notices=notices)


def subject_scrubbed(agg: ReportAggregator, record: Record, hour: str | None,
                     log: str) -> None:
    complete = record.get("complete") is True
    agg.operations.scrubs[complete] += 1
    if not complete:
        _note(agg, record, log, complete=False)


def outbox_queued(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    agg.operations.notices[_text(record.get("notice"))] += 1
    agg.operations.outbox[(_text(record.get("destination")), "queued")] += 1


def outbox_attempt(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    agg.operations.outbox[(_text(record.get("destination")), "attempts")] += 1


def outbox_outcome(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    outcome = OUTBOX_OUTCOMES.get(_text(record.get("kind")), "(unknown)")
    destination = _text(record.get("destination"))
    agg.operations.outbox[(destination, outcome)] += 1
    error = record.get("error")
    if isinstance(error, str):
        agg.operations.outbox_errors[error[:200]] += 1
    if outcome == "dead_lettered":
        _note(agg, record, log, destination=destination,
              attempt=_count(record.get("attempt")),
              error=error[:200] if isinstance(error, str) else None)


def delivery(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    """Any ``delivery.*`` record: its events counted under its step and destination."""
    step = DELIVERY_STEPS.get(_text(record.get("kind")), "(unknown)")
    destination = _text(record.get("destination"))
    messages = record.get("messages")
    events = len(messages) if isinstance(messages, list) else 0
    agg.operations.deliveries[(destination, step)] += events
    error = record.get("error")
    if isinstance(error, str):
        agg.operations.delivery_errors[error[:200]] += events
    if step == "dead_lettered":
        _note(agg, record, log, destination=destination, events=events,
              attempt=_count(record.get("attempt")),
              error=error[:200] if isinstance(error, str) else None)


def retention_swept(agg: ReportAggregator, record: Record, hour: str | None, log: str) -> None:
    counts = _counts(record.get("counts"))
    agg.operations.swept.update(counts)
    _note(agg, record, log, deleted=counts)


def operations_section(agg: ReportAggregator) -> dict[str, Any]:
    ops = agg.operations
    checks = sum(ops.activation.values())
    allowed = sum(n for (_, ok, _), n in ops.activation.items() if ok)
    refusals: Counter[str] = Counter()
    channels: dict[str, dict[str, int]] = {}
    for (channel, ok, reason), n in sorted(ops.activation.items()):
        channels.setdefault(channel, {"allowed": 0, "refused": 0})[
            "allowed" if ok else "refused"] += n
        if not ok:
            refusals[reason] += n
    optin: dict[str, dict[str, int]] = {}
    for (channel, step), n in sorted(ops.optin.items()):
        optin.setdefault(channel, {"requested": 0, "confirmed": 0, "cancelled": 0})[step] = n
    deliveries: dict[str, dict[str, int]] = {}
    for (destination, what), n in sorted(ops.deliveries.items()):
        deliveries.setdefault(destination, dict.fromkeys(DELIVERY_STEPS.values(), 0))[what] = n
    outbox: dict[str, dict[str, int]] = {}
    for (destination, what), n in sorted(ops.outbox.items()):
        outbox.setdefault(destination, dict.fromkeys(
            ("queued", "attempts", "delivered", "retried", "dead_lettered"), 0))[what] = n
    return {
        "activation": {"checks": checks, "allowed": allowed, "refused": checks - allowed,
                       "refused_by_reason": _ranked(refusals), "by_channel": channels},
        "preferences": {"webhooks": ops.webhooks, "updates": ops.updates,
                        "frequency_caps": _ranked(ops.caps), "double_opt_in": optin},
        "subjects": {"exports": agg.kinds.get("subject.exported", 0),
                     "erasures": agg.kinds.get("subject.erased", 0),
                     "deleted": _ranked(ops.deleted), "erasure_notices": ops.erasure_notices,
                     "scrubs": {"complete": ops.scrubs[True], "incomplete": ops.scrubs[False]}},
        "outbox": {"queued_by_notice": _ranked(ops.notices), "by_destination": outbox,
                   "errors": _ranked(ops.outbox_errors)},
        "deliveries": {"events_by_destination": deliveries,
                       "errors": _ranked(ops.delivery_errors)},
        "retention": {"sweeps": agg.kinds.get("retention.swept", 0),
                      "deleted": _ranked(ops.swept)},
        "timeline": sorted(ops.timeline, key=lambda r: (str(r["ts"]), r["log"])),
    }
