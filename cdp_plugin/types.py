"""Frozen values that cross the hook boundary.

Every hook receives and returns these types rather than loose dicts, so a
plugin author can rely on their fields and cannot mutate shared state by
accident. None of them may carry raw personal data into the audit log: the
``subject_key`` fields are keyed pseudonyms, never user or anonymous ids.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

EVENT_TYPES: frozenset[str] = frozenset({"track", "identify", "page", "screen", "group", "alias"})

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


@dataclass(frozen=True, slots=True)
class Event:
    """A validated Segment Spec message.

    ``payload`` is the message exactly as received (read-only view); the typed
    fields are the parts every stage needs. ``subject_id`` is the raw
    identifier (``userId`` if present, else ``anonymousId``) and must never be
    logged or audited; use ``subject_key`` instead. ``repr`` leaves out
    everything that may hold personal data.
    """

    type: str
    message_id: str
    subject_id: str = field(repr=False)
    subject_key: str
    timestamp: datetime
    payload: Mapping[str, Any] = field(repr=False)
    name: str | None = None
    user_id: str | None = field(default=None, repr=False)
    anonymous_id: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=_empty, repr=False)


class ConsentState(enum.StrEnum):
    """A subject's state for one purpose, as resolved for one event."""

    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ConsentView:
    """The consent that holds for one event, per purpose.

    A purpose absent from ``purposes`` is ``UNKNOWN``: unknown consent fails
    closed. ``sources`` names, per purpose, where the state came from
    (``preference_center``, ``in_event``, ``legal_basis``...).
    ``jurisdiction`` is the privacy regime applied (``rules/jurisdictions.yaml``).
    ``unmapped`` names consent categories the event carried that the rules do
    not map (no signal; reported so the vocabulary can be configured).
    """

    subject_key: str
    purposes: Mapping[str, ConsentState] = field(default_factory=_empty)
    sources: Mapping[str, str] = field(default_factory=_empty)
    jurisdiction: str | None = None
    unmapped: tuple[str, ...] = ()

    def state(self, purpose: str) -> ConsentState:
        return self.purposes.get(purpose, ConsentState.UNKNOWN)

    @property
    def granted(self) -> frozenset[str]:
        return frozenset(p for p, s in self.purposes.items() if s is ConsentState.GRANTED)


class Action(enum.StrEnum):
    """What happens to an event."""

    ALLOW = "allow"
    DROP = "drop"
    QUARANTINE = "quarantine"


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one event.

    ``purposes`` are the purposes an allowed event may be used for; the host
    forwards an ``ALLOW`` only if every one of them is granted in the
    event's :class:`ConsentView`, whatever plugin decided. ``reasons`` are
    stable, machine-readable codes such as ``consent.denied``.
    """

    action: Action
    reasons: tuple[str, ...] = ()
    purposes: frozenset[str] = frozenset()

    @classmethod
    def allow(cls, purposes: frozenset[str], *reasons: str) -> Decision:
        return cls(Action.ALLOW, tuple(reasons), frozenset(purposes))

    @classmethod
    def drop(cls, *reasons: str) -> Decision:
        return cls(Action.DROP, tuple(reasons))

    @classmethod
    def quarantine(cls, *reasons: str) -> Decision:
        return cls(Action.QUARANTINE, tuple(reasons))


@dataclass(frozen=True, slots=True)
class FieldAction:
    """One minimization step on one field path, without the field's value."""

    path: str
    action: str
    rule: str


@dataclass(frozen=True, slots=True)
class MinimizedEvent:
    """The payload that may leave the plugin, and how it was derived.

    ``payload`` serves all the granted purposes together. ``deliveries``
    holds, per destination that has rules of its own, the payload reduced to
    what that destination's purposes need.
    """

    payload: Mapping[str, Any]
    actions: tuple[FieldAction, ...] = ()
    deliveries: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)

    def summary(self) -> dict[str, list[str]]:
        """Paths grouped by action, for the audit log and the host (no values)."""
        grouped: dict[str, list[str]] = {}
        for step in self.actions:
            grouped.setdefault(step.action, []).append(step.path)
        return grouped

    def rules(self) -> dict[str, str]:
        """For each ``action:path`` in the summary, the rule that chose it."""
        return {f"{step.action}:{step.path}": step.rule for step in self.actions}


@dataclass(frozen=True, slots=True)
class SegmentChange:
    """A subject entered or left a segment.

    ``explanation`` lists the clauses that held (on entry) or failed (on
    exit), with the feature values involved; it never holds raw identifiers.
    ``active`` is false for shadow-mode segments (not yet approved or below
    their minimum size): they are computed and reported but not activated.
    """

    subject_key: str
    segment: str
    entered: bool
    at: datetime
    explanation: tuple[str, ...] = ()
    active: bool = True


@dataclass(frozen=True, slots=True)
class ConsentUpdate:
    """A change of a subject's preferences, e.g. from the preference center.

    ``purposes`` and ``channels`` map names to granted (True) or denied
    (False), ``topics`` to subscribed or not; names left out are unchanged.
    """

    subject_id: str
    captured_at: datetime
    source: str
    purposes: Mapping[str, bool] = field(default_factory=_empty)
    channels: Mapping[str, bool] = field(default_factory=_empty)
    topics: Mapping[str, bool] = field(default_factory=_empty)
    notice_version: str | None = None
    proof: Mapping[str, str] = field(default_factory=_empty)
    residency: str | None = None
    """The subject's country (``DE``) or region (``US-CA``), when the
    preference center knows it; used when an event carries no location."""


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """The ledger's current state for a subject changed for one purpose."""

    subject_key: str
    purpose: str
    previous: ConsentState
    current: ConsentState
    source: str
    captured_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A record accepted by the audit log.

    ``index`` is the record's leaf number in the log's Merkle tree; ``leaf_hash``
    is the hex RFC 9162 leaf hash of the record's canonical bytes.
    """

    index: int
    kind: str
    leaf_hash: str
    record: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class IngestError:
    """Something went wrong while ingesting one event.

    ``plugin`` names the plugin whose hook raised (or ``cdp_plugin.validation``
    for an invalid event); ``message`` never contains field values.
    """

    stage: str
    plugin: str
    error_type: str
    message: str
    message_id: str | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsentResult:
    """What recording a preference update did.

    ``changes`` are the purposes whose current state changed; ``released``
    are the outcomes of the subject's quarantined events that the new state
    settled, in their original order (forwarded ones carry the payload).
    """

    changes: tuple[ConsentChange, ...] = ()
    released: tuple[Outcome, ...] = ()


@dataclass(frozen=True, slots=True)
class ReconsentDue:
    """A subject whose consent must be asked again.

    ``reasons`` are ``expired`` (older than the policy's maximum age) and/or
    ``superseded_notice``; ``items`` name what is affected, as
    ``scope:name`` (``purpose:marketing``, ``channel:email``).
    """

    subject_key: str
    reasons: tuple[str, ...]
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContactRequest:
    """A CDP asks, before sending a message: may this subject be contacted now?

    ``purpose`` is what the message serves (``marketing`` for campaigns).
    When ``record`` is true and the answer is yes, the send counts against
    the channel's frequency cap. ``experiment`` names the experiment the send
    belongs to (``rules/experiments.yaml``), if any: the answer then names the
    subject's variant, or refuses a holdout subject.
    """

    subject_key: str
    channel: str
    at: datetime
    topic: str | None = None
    purpose: str = "marketing"
    record: bool = True
    experiment: str | None = None


@dataclass(frozen=True, slots=True)
class ContactDecision:
    """The activation gate's answer with a stable reason code (``ok``,
    ``purpose.denied``, ``channel.denied``, ``topic.unsubscribed``,
    ``frequency_cap``, ``quiet_hours``...). ``retry_after`` says when a
    time-bound refusal (cap, quiet hours) ends, if known.

    For a request about an experiment, ``experiment`` repeats its name once the
    subject is assigned; an allowed answer names the ``variant`` to send and its
    ``attributes`` (from ``rules/experiments.yaml``), a refusal with reason
    ``holdout`` means the subject is held out. Other experiment reasons:
    ``unknown_experiment``, ``experiment_not_running``,
    ``experiment.purpose_mismatch``, ``experiment.not_eligible``,
    ``experiment.unassigned``, ``experiment.arm_removed``, ``invalid_time``."""

    allowed: bool
    reason: str
    retry_after: datetime | None = None
    experiment: str | None = None
    variant: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=_empty)


class Status(enum.StrEnum):
    """What the host should do with an event after the pipeline ran."""

    FORWARDED = "forwarded"
    DROPPED = "dropped"
    QUARANTINED = "quarantined"
    INVALID = "invalid"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The pipeline's answer for one event.

    Only ``FORWARDED`` outcomes carry an ``event`` (the minimized payload);
    every other status means the event must not leave the plugin.
    """

    status: Status
    message_id: str | None
    reasons: tuple[str, ...] = ()
    event: Mapping[str, Any] | None = None
    minimization: Mapping[str, list[str]] = field(default_factory=dict)
    segment_changes: tuple[SegmentChange, ...] = ()
    audit_index: int | None = None
    purposes: frozenset[str] = field(default_factory=frozenset)
    destinations: frozenset[str] = field(default_factory=frozenset)
    """The downstream destinations (``purposes.yaml``) that serve one of
    ``purposes``: where a forwarded event may be sent."""
    deliveries: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per destination with its own minimization rules, the payload to send
    it instead of ``event``."""
    minimization_rules: Mapping[str, str] = field(default_factory=dict)
    """For each ``action:path`` in ``minimization``, the rule that chose it."""
    subject_key: str | None = None
    """The keyed pseudonym of the event's subject (set on forwarded outcomes)."""

    @property
    def forwarded(self) -> bool:
        return self.status is Status.FORWARDED
