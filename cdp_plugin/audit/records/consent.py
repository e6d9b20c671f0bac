"""Records of consent: updates, re-consent, the activation gate, preferences, double opt-in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from cdp_plugin.audit.records.base import AuditRecord


@dataclass(frozen=True, slots=True)
class PurposeChange:
    """One purpose whose current state a consent update changed."""

    purpose: str
    previous: str
    current: str


@dataclass(frozen=True, slots=True)
class ConsentRecorded(AuditRecord):
    """Proves a preference update was recorded in the consent ledger, and what it changed.

    ``purposes``, ``channels`` and ``topics`` map names to True (granted or
    subscribed) or False, as the update stated them, captured at
    ``captured_at`` from ``source`` under ``notice_version``. ``changes``
    lists each purpose whose current state moved (``granted``, ``denied``,
    ``unknown``); an update that changed nothing has none.
    """

    kind: ClassVar[str] = "consent.recorded"
    subject: str
    source: str
    captured_at: datetime
    notice_version: str | None
    purposes: Mapping[str, bool]
    channels: Mapping[str, bool]
    topics: Mapping[str, bool]
    changes: tuple[PurposeChange, ...]


@dataclass(frozen=True, slots=True)
class ReconsentFound(AuditRecord):
    """Proves a subject was found due for re-consent and announced, once per finding.

    ``reasons`` are ``expired`` and/or ``superseded_notice``; ``items`` the
    consents concerned, as ``purpose:<name>`` or ``channel:<name>``. Until the
    subject consents again those consents count as unknown.
    """

    kind: ClassVar[str] = "consent.reconsent_due"
    subject: str
    reasons: tuple[str, ...]
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ActivationChecked(AuditRecord):
    """Proves what the activation gate answered when a CDP asked to contact a subject.

    ``allowed`` is the answer for ``channel``, ``topic`` (None for none) and
    ``purpose``; ``reason`` the code behind it (e.g. ``ok``, ``purpose.unknown``,
    ``quiet_hours``, ``frequency_cap``, ``no_gate``, ``plugin_error``).
    """

    kind: ClassVar[str] = "activation.checked"
    subject: str
    channel: str
    topic: str | None
    purpose: str
    allowed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class PreferencesReceived(AuditRecord):
    """Proves a signed preference webhook was applied, all its updates in one unit of work.

    ``webhook_id`` is the sender's id (None when not called over HTTP);
    ``subjects`` the subject of each update, in order.
    """

    kind: ClassVar[str] = "preferences.received"
    webhook_id: str | None
    subjects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FrequencyCapsStored(AuditRecord):
    """Proves a subject's per-channel frequency caps were stored from a preference update.

    ``channels`` names the channels whose cap the update set (the caps
    themselves are in the subject's profile).
    """

    kind: ClassVar[str] = "preferences.frequency_caps"
    subject: str
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OptinRequested(AuditRecord):
    """Proves a channel grant was held back for double opt-in and a token issued.

    ``request`` is the pending request's id (the token carries it, signed);
    the grant counts only once it is confirmed before ``expires_at``.
    """

    kind: ClassVar[str] = "optin.requested"
    subject: str
    channel: str
    request: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OptinCancelled(AuditRecord):
    """Proves pending double opt-in requests were cancelled by a later denial.

    ``requests`` is how many pending requests for ``channel`` were cancelled.
    """

    kind: ClassVar[str] = "optin.cancelled"
    subject: str
    channel: str
    requests: int


@dataclass(frozen=True, slots=True)
class OptinConfirmed(AuditRecord):
    """Proves a subject confirmed a double opt-in request, so the channel grant holds.

    ``request`` is the confirmed request's id; ``requested_source`` the
    source of the update that asked for it.
    """

    kind: ClassVar[str] = "optin.confirmed"
    subject: str
    channel: str
    request: str
    requested_source: str | None
