"""The records a store reads and writes: frozen dataclasses and the status values they use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One entry of the append-only consent ledger.

    ``purposes``, ``channels`` and ``topics`` hold only what this record
    speaks about (name -> granted or subscribed?). ``seq`` is ``None``
    until a store appends the record.
    """

    subject_key: str
    source: str  # preference_center, in_event, tcf, gpp, gpc, consent_mode, import
    captured_at: datetime
    received_at: datetime
    purposes: Mapping[str, bool]
    channels: Mapping[str, bool]
    topics: Mapping[str, bool] = field(default_factory=dict)
    notice_version: str | None = None
    proof: Mapping[str, str] = field(default_factory=dict)
    seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as shown to the subject (export) and the operator (consent show)."""
        return {"seq": self.seq, "source": self.source,
                "captured_at": self.captured_at.isoformat(),
                "received_at": self.received_at.isoformat(),
                "purposes": dict(self.purposes), "channels": dict(self.channels),
                "topics": dict(self.topics), "notice_version": self.notice_version,
                "proof": dict(self.proof)}


@dataclass(frozen=True, slots=True)
class CurrentConsent:
    """The state that holds now for one purpose or channel of one subject.

    ``scope`` is ``"purpose"``, ``"channel"`` or ``"topic"``; ``source``, ``captured_at``,
    ``seq`` and ``notice_version`` come from the ledger record the state comes from.
    """

    name: str
    scope: str
    granted: bool
    source: str
    captured_at: datetime
    seq: int
    notice_version: str | None = None


@dataclass(frozen=True, slots=True)
class QuarantinedEvent:
    """An event held back until it may be processed, or until it expires.

    ``payload`` is the event's JSON text, opaque to the store.
    """

    id: int
    subject_key: str
    message_id: str
    payload: str
    received_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxNotice:
    """A notice for a downstream destination, waiting in or done with the outbox.

    ``status`` is ``pending`` (due at ``next_attempt_at``), ``delivered`` or
    ``dead`` (dead-lettered). ``attempts`` counts the attempts started;
    ``payload`` is JSON text, opaque to the store; ``last_error`` names what
    went wrong last (a status code or an error class, never data).
    """

    id: int
    idempotency_key: str
    destination: str
    kind: str
    subject_key: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    last_error: str | None = None


OUTBOX_STATUSES = ("pending", "delivered", "dead")


@dataclass(frozen=True, slots=True)
class QueuedDelivery:
    """A forwarded event waiting for, or done with, delivery to one destination.

    ``status`` is ``pending`` (due at ``next_attempt_at``), ``delivered``,
    ``dead`` (dead-lettered) or ``cancelled`` (a withdrawal or an erasure
    came first). ``message_key`` is the keyed stand-in for the messageId;
    ``purposes`` are the granted purposes the destination serves, which
    justified the delivery; ``payload`` is the JSON text the destination
    receives, opaque to the store (``""`` once delivered or cancelled);
    ``last_error`` names what went wrong last (a status code or an error
    class, never data).
    """

    id: int
    destination: str
    subject_key: str
    message_key: str
    purposes: tuple[str, ...]
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to queue: what :meth:`DeliveryQueue.delivery_add` takes."""

    destination: str
    subject_key: str
    message_key: str
    purposes: tuple[str, ...]
    payload: str


DELIVERY_STATUSES = ("pending", "delivered", "dead", "cancelled")
OPTIN_STATUSES = ("pending", "confirmed", "cancelled")


@dataclass(frozen=True, slots=True)
class Tombstone:
    """The pseudonymous proof that a subject's data was erased.

    ``proof`` is a JSON-serializable mapping: what was deleted (counts), and
    where the erasure is in the audit log.
    """

    id: int
    subject_key: str
    erased_at: datetime
    proof: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OptInRequest:
    """A channel grant waiting for double opt-in confirmation.

    ``status`` is ``pending``, ``confirmed`` or ``cancelled``; ``settled_at``
    is when it left ``pending``. ``details`` is a JSON-serializable mapping
    of the original update's source, notice version and proof.
    """

    token_id: str
    subject_key: str
    channel: str
    status: str
    captured_at: datetime
    expires_at: datetime
    details: Mapping[str, Any]
    settled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Tally:
    """A running count and total, e.g. orders and revenue of a currency's customers."""

    count: int
    total: float


@dataclass(frozen=True, slots=True)
class SegmentDay:
    """One segment's entries and exits on one day (UTC), and its size after the
    latest change counted for that day."""

    segment: str
    day: date
    size: int
    entered: int
    exited: int


@dataclass(frozen=True, slots=True)
class ExperimentSubject:
    """Where one subject (by pseudonym) stands in one experiment.

    ``arm`` is a variant name or ``holdout``, fixed when the subject was first
    assigned (``assigned_at``). ``first_exposed_at`` is the first send the gate
    allowed for the experiment (for the holdout: the first send it withheld),
    None until then. ``converted`` and ``converted_at`` (the first conversion)
    follow the primary metric; ``revenue`` is the sum of the revenue
    attributed to the subject (0 for a ``count: once`` metric).
    """

    experiment: str
    subject_key: str
    arm: str
    assigned_at: datetime
    first_exposed_at: datetime | None = None
    converted: bool = False
    revenue: float = 0.0
    converted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExperimentArm:
    """One arm's totals in one experiment: subjects assigned, exposed, converted
    (exposed and converted), and the sum and the sum of squares of the revenue
    per exposed subject."""

    arm: str
    assigned: int
    exposed: int
    converted: int
    revenue_sum: float
    revenue_sum_squares: float
