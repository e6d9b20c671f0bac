"""Records of the event path: decisions, rejections, plugin errors, segments, quarantine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from cdp_plugin.audit.records.base import AuditRecord


@dataclass(frozen=True, slots=True)
class SegmentMove:
    """One segment an allowed event moved its subject into or out of."""

    segment: str
    entered: bool
    active: bool


@dataclass(frozen=True, slots=True)
class EventDecision(AuditRecord):
    """Proves how one event was decided and why, before its outcome reached the host.

    ``action`` is ``allow``, ``drop`` or ``quarantine``; ``reasons`` are the
    reason codes. ``consent`` is each purpose's state as resolved for this
    event (``granted``, ``denied``, ``unknown``), ``purposes`` the purposes
    the event may serve, ``destinations`` those purposes allow, all under
    ``rules_version`` and ``jurisdiction``. For an allowed event,
    ``minimization`` maps each minimization action to the field paths it
    touched (never values), ``minimization_rules`` maps ``action:path`` to the
    rule that chose it, and ``segments`` lists the segment moves it caused.
    """

    kind: ClassVar[str] = "event.decision"
    message_id: str
    subject: str
    type: str
    event: str | None
    action: str
    reasons: tuple[str, ...]
    purposes: tuple[str, ...]
    consent: Mapping[str, str]
    jurisdiction: str | None
    destinations: tuple[str, ...]
    rules_version: str
    minimization: Mapping[str, Sequence[str]]
    minimization_rules: Mapping[str, str]
    segments: tuple[SegmentMove, ...]


@dataclass(frozen=True, slots=True)
class EventInvalid(AuditRecord):
    """Proves an event was rejected by validation and never decided or forwarded.

    ``message_id`` is None when the event had none; ``problems`` maps each
    offending field path to what is wrong with it, never to its value.
    """

    kind: ClassVar[str] = "event.invalid"
    message_id: str | None
    problems: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class EventDuplicate(AuditRecord):
    """Proves an event was not processed again because its ``messageId`` was seen before."""

    kind: ClassVar[str] = "event.duplicate"
    message_id: str
    subject: str


@dataclass(frozen=True, slots=True)
class PluginFailed(AuditRecord):
    """Proves a deciding or transforming hook raised, so its outcome failed closed.

    Names the ``plugin`` and the ``hook``, and the exception class as
    ``error_type``, never its message. ``message_id`` and ``subject`` are
    None when the failure was not about one event or subject.
    """

    kind: ClassVar[str] = "plugin.error"
    message_id: str | None
    subject: str | None
    plugin: str
    hook: str
    error_type: str


@dataclass(frozen=True, slots=True)
class SegmentChanged(AuditRecord):
    """Proves a subject entered or left a segment outside an event decision.

    ``cause`` is ``tick`` (time-based rules as of ``at``) or ``consent`` (a
    withdrawal ended what the purpose justified); ``active`` is False for a
    segment in shadow mode, whose moves are recorded but not acted on.
    """

    kind: ClassVar[str] = "segment.changed"
    subject: str
    segment: str
    entered: bool
    active: bool
    at: datetime
    cause: str


@dataclass(frozen=True, slots=True)
class QuarantineReleased(AuditRecord):
    """Proves a held event was forwarded once its subject's consent became known.

    ``reasons`` are those of the decision that released it; that decision
    has its own ``event.decision`` record.
    """

    kind: ClassVar[str] = "quarantine.released"
    message_id: str
    subject: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QuarantinePurged(AuditRecord):
    """Proves a held event was deleted without being forwarded.

    ``reasons`` say why: the decision's reasons once consent was denied, or
    ``quarantine.expired`` or ``retention.expired`` for a held event whose
    time ran out.
    """

    kind: ClassVar[str] = "quarantine.purged"
    message_id: str
    subject: str
    reasons: tuple[str, ...]
