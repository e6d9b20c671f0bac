"""Records of the callback endpoints: subject access and erasure, and the notice outbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from cdp_plugin.audit.records.base import AuditRecord


@dataclass(frozen=True, slots=True)
class SubjectExported(AuditRecord):
    """Proves everything held about a subject was handed out, and how much of it.

    ``history`` counts consent ledger entries, ``quarantined`` held events,
    ``segments`` the segments the subject was in.
    """

    kind: ClassVar[str] = "subject.exported"
    subject: str
    history: int
    quarantined: int
    segments: int


@dataclass(frozen=True, slots=True)
class SubjectErased(AuditRecord):
    """Proves a subject was erased: every consent withdrawn, their data deleted.

    ``deleted`` counts what went per kind (``data_keys``, ``profile``,
    ``quarantined_events``, ``sends``, ``optin_requests``); ``notices`` how
    many erasure notices were queued for destinations. The subject's
    tombstone points at this record's index and leaf hash.
    """

    kind: ClassVar[str] = "subject.erased"
    subject: str
    deleted: Mapping[str, int]
    notices: int


@dataclass(frozen=True, slots=True)
class SubjectScrubbed(AuditRecord):
    """Proves the store overwrote what deleted rows left in its files after an erasure.

    ``complete`` is False if some copy may remain (another connection held
    the journal, or the backend keeps old row versions).
    """

    kind: ClassVar[str] = "subject.scrubbed"
    subject: str
    complete: bool


@dataclass(frozen=True, slots=True)
class OutboxQueued(AuditRecord):
    """Proves a notice to a destination was queued, once per ``idempotency_key``.

    ``notice`` is ``suppression`` (a withdrawal the destination must honour)
    or ``erasure``; the notice's body names the subject only by the keyed
    hash destinations know.
    """

    kind: ClassVar[str] = "outbox.queued"
    idempotency_key: str
    destination: str
    notice: str
    subject: str


@dataclass(frozen=True, slots=True)
class OutboxAttempt(AuditRecord):
    """Proves a queued notice was leased for delivery attempt number ``attempt``."""

    kind: ClassVar[str] = "outbox.attempt"
    idempotency_key: str
    destination: str
    attempt: int


@dataclass(frozen=True, slots=True)
class OutboxOutcome(AuditRecord):
    """The outcome of one delivery attempt (a base: each outcome has its own kind).

    ``error`` is None on success, else ``http <status>``, the exception
    class name, or ``destination.unconfigured``; never a response body.
    """

    idempotency_key: str
    destination: str
    attempt: int
    error: str | None


@dataclass(frozen=True, slots=True)
class OutboxDelivered(OutboxOutcome):
    """Proves the destination acknowledged the notice (a 2xx answer)."""

    kind: ClassVar[str] = "outbox.delivered"


@dataclass(frozen=True, slots=True)
class OutboxRetry(OutboxOutcome):
    """Proves an attempt failed and the notice will be tried again at ``retry_at``."""

    kind: ClassVar[str] = "outbox.retry"
    retry_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxDeadLettered(OutboxOutcome):
    """Proves the notice failed its last allowed attempt and will not be sent again."""

    kind: ClassVar[str] = "outbox.dead_lettered"
