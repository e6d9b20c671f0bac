"""Records of event delivery: forwarded events queued for, sent to, or withheld
from the destinations bound in ``delivery:``.

Events are named by their keyed message pseudonyms (``messages``), never by
their messageId or payload; one record covers one batch of one destination.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from cdp_plugin.audit.records.base import AuditRecord


@dataclass(frozen=True, slots=True)
class DeliveryQueued(AuditRecord):
    """Proves forwarded events were queued for a destination, in the unit of
    work that decided them."""

    kind: ClassVar[str] = "delivery.queued"
    destination: str
    messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeliveryAttempt(AuditRecord):
    """Proves queued events were leased for one attempt to send them;
    ``attempt`` is the highest attempt number among them (1 for a first try)."""

    kind: ClassVar[str] = "delivery.attempt"
    destination: str
    messages: tuple[str, ...]
    attempt: int


@dataclass(frozen=True, slots=True)
class DeliveryOutcome(AuditRecord):
    """The outcome of one attempt (a base: each outcome has its own kind).

    ``error`` is None on success, else ``http <status>``, the exception
    class name or a short code; never a response body.
    """

    destination: str
    messages: tuple[str, ...]
    attempt: int
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryDelivered(DeliveryOutcome):
    """Proves the destination acknowledged the events."""

    kind: ClassVar[str] = "delivery.delivered"


@dataclass(frozen=True, slots=True)
class DeliveryRetry(DeliveryOutcome):
    """Proves an attempt failed and the events will be tried again at ``retry_at``."""

    kind: ClassVar[str] = "delivery.retry"
    retry_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryDeadLettered(DeliveryOutcome):
    """Proves the events failed for good (their last allowed attempt, or an
    answer that retrying cannot change) and will not be sent unless requeued."""

    kind: ClassVar[str] = "delivery.dead_lettered"


@dataclass(frozen=True, slots=True)
class DeliveryCancelled(AuditRecord):
    """Proves queued events of a subject were withdrawn before they were sent:
    ``reason`` is ``withdrawal`` (of one of ``purposes``) or ``erasure``."""

    kind: ClassVar[str] = "delivery.cancelled"
    destination: str
    subject: str
    messages: tuple[str, ...]
    reason: str
    purposes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeliveryRequeued(AuditRecord):
    """Proves an operator made dead-lettered events pending again."""

    kind: ClassVar[str] = "delivery.requeued"
    destination: str
    messages: tuple[str, ...]
