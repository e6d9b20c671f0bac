"""The storage interface: consent ledger, profiles, quarantine, sends, subject keys, dedup.

Every ``subject_key`` handed to a store is already a keyed pseudonym; a store
never sees raw identifiers. Every failure is a :class:`StorageError` whose
message names the operation, never the data involved.
"""

from __future__ import annotations

import json
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from cdp_plugin.errors import StorageError

SCHEMA_VERSION = "1"
"""Written to the ``meta`` table as ``schema_version``; a store refuses any other."""


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


class Store(ABC):
    """Durable state of the plugin behind one interface.

    Methods called outside :meth:`transaction` each run in a transaction of
    their own. Every failure raises :class:`StorageError`.
    """

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Run the ``with`` block atomically: all of its writes commit, or none do.

        Nested use joins the outer transaction; only the outermost block
        commits or rolls back. If anything inside fails (an exception leaves an
        inner block, or an operation fails in the database) the whole
        transaction rolls back, and an outer block that swallowed the error
        raises :class:`StorageError` on exit instead of committing part of it.
        An argument rejected before reaching the database (a naive datetime,
        data that is not JSON) does not fail the transaction.
        """

    @abstractmethod
    def remember_message(self, message_id: str, seen_at: datetime) -> bool:
        """Record ``message_id``; True if it was new, False if it is a replay.

        A replay keeps the first ``seen_at``. Raises StorageError on failure.
        """

    @abstractmethod
    def forget_message(self, message_id: str) -> bool:
        """Delete the dedup entry of ``message_id`` so the message counts as new again.

        Returns True if there was one. Raises StorageError on failure.
        """

    @abstractmethod
    def forget_messages_before(self, before: datetime) -> int:
        """Delete dedup entries seen strictly before ``before``; return how many.

        Raises StorageError on failure.
        """

    @abstractmethod
    def append_consent(self, record: ConsentRecord) -> ConsentRecord:
        """Append ``record`` to the ledger and return it with a fresh ``seq``.

        ``seq`` increases with every append (any ``seq`` on the input is
        ignored). For each purpose and channel in the record, the current state
        takes this record's value iff its ``captured_at`` is not older than the
        current entry's (ties go to the later ``seq``); an older record stays in
        history only. Raises StorageError on failure, including a naive
        datetime or a non-bool grant value.
        """

    @abstractmethod
    def consent_history(self, subject_key: str) -> list[ConsentRecord]:
        """Return every ledger record of the subject, in append order (seq ascending).

        Raises StorageError on failure.
        """

    @abstractmethod
    def current_consent(self, subject_key: str) -> dict[tuple[str, str], CurrentConsent]:
        """Return the subject's current state keyed by ``(scope, name)``; empty if none.

        Raises StorageError on failure.
        """

    @abstractmethod
    def stale_consent(
        self, captured_before: datetime, superseded_notices: Sequence[str]
    ) -> Iterator[tuple[str, CurrentConsent]]:
        """Yield ``(subject_key, state)`` for current purpose and channel states
        captured before ``captured_before`` or given under one of
        ``superseded_notices``, ordered by subject key.

        Raises StorageError on failure.
        """

    @abstractmethod
    def get_profile(self, subject_key: str) -> dict[str, Any] | None:
        """Return the subject's profile, or None if there is none.

        Raises StorageError on failure.
        """

    @abstractmethod
    def put_profile(self, subject_key: str, data: Mapping[str, Any], updated_at: datetime) -> None:
        """Create or replace the subject's profile with ``data`` (JSON-serializable).

        Raises StorageError on failure, including data that is not JSON.
        """

    @abstractmethod
    def delete_profile(self, subject_key: str) -> bool:
        """Delete the subject's profile; True if there was one.

        Raises StorageError on failure.
        """

    @abstractmethod
    def iter_profiles(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``(subject_key, profile)`` ordered by subject_key, fetching in pages.

        Pages are read one at a time, so the store stays usable while iterating
        and a large table is never held in memory. Raises StorageError, while
        iterating, on failure.
        """

    @abstractmethod
    def quarantine_add(
        self,
        subject_key: str,
        message_id: str,
        payload: str,
        received_at: datetime,
        expires_at: datetime,
    ) -> int:
        """Quarantine one event; return its id (ids increase in insertion order).

        Raises StorageError on failure.
        """

    @abstractmethod
    def quarantine_list(self, subject_key: str) -> list[QuarantinedEvent]:
        """Return the subject's quarantined events in insertion order.

        Raises StorageError on failure.
        """

    @abstractmethod
    def quarantine_count(self, subject_key: str) -> int:
        """Return how many events of the subject are quarantined.

        Raises StorageError on failure.
        """

    @abstractmethod
    def quarantine_remove(self, ids: Sequence[int]) -> int:
        """Remove the quarantined events with these ids; return how many were removed.

        Unknown ids are ignored. Raises StorageError on failure.
        """

    @abstractmethod
    def quarantine_expired(self, now: datetime) -> list[QuarantinedEvent]:
        """Return every quarantined event with ``expires_at <= now``, in insertion order.

        Raises StorageError on failure.
        """

    @abstractmethod
    def put_key(
        self, subject_key: str, key_id: str, wrapped_key: bytes, created_at: datetime
    ) -> None:
        """Store a wrapped per-subject key under ``key_id``.

        Storing the same bytes again is a no-op. Key material is never
        replaced: a different key under an existing ``key_id`` raises
        StorageError, as does any other failure.
        """

    @abstractmethod
    def get_keys(self, subject_key: str) -> dict[str, bytes]:
        """Return the subject's wrapped keys by key id, oldest first; empty if none.

        Raises StorageError on failure.
        """

    @abstractmethod
    def iter_keys(self) -> Iterator[tuple[str, str, bytes]]:
        """Yield ``(subject_key, key_id, wrapped_key)`` for every stored key,
        ordered by subject key then key id, read in pages (for rotation).

        Raises StorageError on failure.
        """

    @abstractmethod
    def delete_keys(self, subject_key: str) -> int:
        """Delete every key of the subject; return how many were deleted.

        Raises StorageError on failure.
        """

    @abstractmethod
    def record_send(
        self, subject_key: str, channel: str, topic: str | None, sent_at: datetime
    ) -> None:
        """Record that the subject was sent a message on ``channel`` (about
        ``topic``, if any) at ``sent_at``; frequency caps count these.

        Raises StorageError on failure, including a naive datetime.
        """

    @abstractmethod
    def sends_since(self, subject_key: str, channel: str, since: datetime) -> list[datetime]:
        """Return when the subject was sent messages on ``channel`` strictly after
        ``since``, ascending, in UTC.

        Inside a transaction, a check of the count followed by
        :meth:`record_send` is safe against other connections doing the same
        for this subject and channel: they wait until the transaction ends
        rather than count the same sends. Raises StorageError on failure,
        including a naive datetime.
        """

    @abstractmethod
    def delete_sends(self, subject_key: str) -> int:
        """Delete every recorded send of the subject; return how many were deleted.

        Raises StorageError on failure.
        """

    @abstractmethod
    def get_meta(self, name: str) -> str | None:
        """Return the setting ``name``, or None if unset. Raises StorageError on failure."""

    @abstractmethod
    def set_meta(self, name: str, value: str) -> None:
        """Create or replace the setting ``name``. Raises StorageError on failure."""

    # --- preference-center callbacks: webhook ids, outbox, tombstones, double opt-in ---

    @abstractmethod
    def remember_webhook(self, webhook_id: str, digest: str, seen_at: datetime) -> str | None:
        """Record a received webhook id with the digest of its request.

        Returns None if the id was new, else the digest stored with it first
        (the first ``seen_at`` is kept). Raises StorageError on failure.
        """

    @abstractmethod
    def forget_webhooks_before(self, before: datetime) -> int:
        """Delete webhook ids seen strictly before ``before``; return how many.

        Raises StorageError on failure.
        """

    @abstractmethod
    def outbox_add(self, idempotency_key: str, destination: str, kind: str, subject_key: str,
                   payload: str, created_at: datetime) -> bool:
        """Queue a notice, due at once; False (and nothing changed) if a notice
        with ``idempotency_key`` already exists.

        Raises StorageError on failure.
        """

    @abstractmethod
    def outbox_lease(self, now: datetime, lease_until: datetime,
                     limit: int) -> list[OutboxNotice]:
        """Start an attempt on up to ``limit`` pending notices due at ``now``.

        Atomically, for each: ``attempts`` grows by one and ``next_attempt_at``
        becomes ``lease_until``, so no other connection leases it until then.
        Returns them (as updated) ordered by id. Raises StorageError on failure.
        """

    @abstractmethod
    def outbox_settle(self, notice_id: int, attempts: int, status: str,
                      next_attempt_at: datetime, last_error: str | None,
                      at: datetime) -> bool:
        """Record the outcome of attempt number ``attempts`` of a pending notice.

        ``status`` is ``pending`` (retry at ``next_attempt_at``), ``delivered``
        or ``dead``. Returns False, changing nothing, if the notice is no
        longer pending or another attempt was started since. Raises
        StorageError on failure, including an unknown status.
        """

    @abstractmethod
    def outbox_next_due(self) -> datetime | None:
        """When the earliest pending notice is due, or None if none is pending.

        Raises StorageError on failure.
        """

    @abstractmethod
    def outbox_list(self, subject_key: str | None = None,
                    status: str | None = None) -> list[OutboxNotice]:
        """Notices, optionally of one subject and/or one status, ordered by id.

        Raises StorageError on failure.
        """

    @abstractmethod
    def add_tombstone(self, subject_key: str, erased_at: datetime,
                      proof: Mapping[str, Any]) -> int:
        """Record that the subject's data was erased; return the tombstone's id.

        Raises StorageError on failure, including a proof that is not JSON.
        """

    @abstractmethod
    def tombstones(self, subject_key: str) -> list[Tombstone]:
        """The subject's tombstones, oldest first. Raises StorageError on failure."""

    @abstractmethod
    def optin_add(self, token_id: str, subject_key: str, channel: str, captured_at: datetime,
                  expires_at: datetime, details: Mapping[str, Any]) -> None:
        """Record a pending double opt-in request under a new ``token_id``.

        Raises StorageError on failure, including a token id already used.
        """

    @abstractmethod
    def optin_get(self, token_id: str) -> OptInRequest | None:
        """The request issued under ``token_id``, or None. Raises StorageError on failure."""

    @abstractmethod
    def optin_settle(self, token_id: str, status: str, at: datetime) -> bool:
        """Move a pending request to ``confirmed`` or ``cancelled``; False if it
        was not pending (nothing changed). Raises StorageError on failure."""

    @abstractmethod
    def optin_cancel(self, subject_key: str, channel: str, captured_until: datetime,
                     at: datetime) -> int:
        """Cancel the subject's pending requests for ``channel`` captured at or
        before ``captured_until``; return how many. Raises StorageError on failure."""

    @abstractmethod
    def optin_list(self, subject_key: str) -> list[OptInRequest]:
        """The subject's requests, oldest first. Raises StorageError on failure."""

    @abstractmethod
    def optin_delete(self, subject_key: str) -> int:
        """Delete every request of the subject; return how many. Raises StorageError on failure."""

    @abstractmethod
    def scrub_deleted(self) -> bool:
        """Overwrite what deleted rows left in the database's own files.

        Returns True if no copy of a deleted row can remain in them, False if
        some may (another connection held the journal, or the backend keeps
        old row versions it does not overwrite on demand). Must not run inside
        a transaction: raises StorageError then, and on any other failure.
        """

    # --- segments: running tallies, sizes and daily churn ---------------------------

    @abstractmethod
    def add_tally(self, name: str, count: int, total: float) -> Tally:
        """Add ``count`` and ``total`` to the tally ``name`` (created at zero) and
        return it as it now stands.

        Concurrent additions are never lost. Raises StorageError on failure,
        including a total that is not a finite number.
        """

    @abstractmethod
    def get_tally(self, name: str) -> Tally:
        """The tally ``name``; zero if there is none. Raises StorageError on failure."""

    @abstractmethod
    def count_segment_change(self, segment: str, day: date, entered: int, exited: int) -> int:
        """Count ``entered`` entries and ``exited`` exits of ``segment`` on ``day``
        and return the segment's new size (its entries minus its exits, ever).

        The day's row keeps the sums and the size after this change. Raises
        StorageError on failure.
        """

    @abstractmethod
    def segment_sizes(self) -> dict[str, int]:
        """Every segment that ever changed, with its current size.

        Raises StorageError on failure.
        """

    @abstractmethod
    def segment_days(self, since: date | None = None) -> list[SegmentDay]:
        """Daily entries, exits and sizes from ``since`` (included) on, or all,
        ordered by segment then day. Raises StorageError on failure.
        """

    # --- retention: removing what has outlived its time to live ----------------------

    @abstractmethod
    def quarantine_received_before(self, before: datetime) -> list[QuarantinedEvent]:
        """Return every quarantined event received strictly before ``before``, in
        insertion order, whatever its expiry. Raises StorageError on failure."""

    @abstractmethod
    def delete_profiles_before(self, updated_before: datetime) -> int:
        """Delete the profiles last updated strictly before ``updated_before``; return
        how many. Raises StorageError on failure."""

    @abstractmethod
    def drop_profile_fields_before(self, updated_before: datetime, names: Sequence[str]) -> int:
        """Remove the top-level keys ``names`` from every profile last updated strictly
        before ``updated_before``; return how many profiles lost at least one.

        ``updated_at`` stays as it was, so the profile still ages towards its own
        deletion. Raises StorageError on failure, including a name with a double
        quote (not every backend can address one).
        """

    @abstractmethod
    def blank_consent_proofs(self, captured_before: datetime) -> int:
        """Empty the ``proof`` of ledger records captured strictly before
        ``captured_before``; return how many records changed.

        A record that a current state still comes from keeps its proof, since
        that state still rests on it. Nothing else in any record changes and no
        record is removed: the ledger keeps its history and ``seq`` order, minus
        the evidence. Raises StorageError on failure.
        """

    @abstractmethod
    def delete_sends_before(self, before: datetime) -> int:
        """Delete every recorded send strictly before ``before``; return how many.

        Raises StorageError on failure.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the connection. Idempotent; every later operation raises StorageError."""


class SingleConnectionStore(Store):
    """Transaction bookkeeping for a store with one connection guarded by one lock.

    The lock is held for a whole transaction, so other threads wait rather
    than interleave with it. A subclass supplies the connection control
    (:meth:`_control`, :meth:`_close_connection`), the driver's exception
    classes and how to describe one without quoting data (:meth:`_describe`).
    """

    _driver_errors: tuple[type[Exception], ...] = ()

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._failed = False
        self._closed = False

    @abstractmethod
    def _control(self, statement: str) -> None:
        """Run ``BEGIN``, ``COMMIT`` or ``ROLLBACK`` on the connection."""

    @abstractmethod
    def _close_connection(self) -> None:
        """Close the underlying connection."""

    def _describe(self, exc: BaseException) -> str:
        """Name a driver error without its message, which may quote data."""
        return type(exc).__name__

    def _error(self, operation: str, exc: BaseException) -> StorageError:
        return StorageError(f"{operation} failed: {self._describe(exc)}")

    def transaction(self) -> AbstractContextManager[None]:
        return self._scope("transaction", atomic=True)

    @contextmanager
    def _scope(self, operation: str, *, atomic: bool) -> Iterator[None]:
        """Run one operation (or a caller's block) under the lock.

        ``atomic`` asks for a transaction of its own when none is open; a
        single statement does without, since the database makes it atomic.
        """
        with self._lock:
            if self._closed:
                raise StorageError(f"{operation} failed: the store is closed")
            if self._depth > 0:
                yield from self._joined(operation)
            elif atomic:
                yield from self._outermost(operation)
            else:
                try:
                    yield
                except self._driver_errors as exc:
                    raise self._error(operation, exc) from None

    def _joined(self, operation: str) -> Iterator[None]:
        if self._failed:
            raise StorageError(f"{operation} failed: the enclosing transaction has failed")
        self._depth += 1
        try:
            yield
        except self._driver_errors as exc:
            # Some databases abort the whole transaction on any error, so
            # every backend treats a failure inside as fatal to it alike.
            self._failed = True
            raise self._error(operation, exc) from None
        except BaseException:
            self._failed = True
            raise
        finally:
            self._depth -= 1

    def _outermost(self, operation: str) -> Iterator[None]:
        try:
            self._control("BEGIN")
        except self._driver_errors as exc:
            raise self._error(operation, exc) from None
        self._depth, self._failed = 1, False
        try:
            yield
        except BaseException as exc:
            self._depth = 0
            self._rollback_quietly()
            if isinstance(exc, self._driver_errors):
                raise self._error(operation, exc) from None
            raise
        self._depth = 0
        if self._failed:
            self._rollback_quietly()
            raise StorageError(f"{operation} rolled back: an operation inside it failed")
        try:
            self._control("COMMIT")
        except self._driver_errors as exc:
            self._rollback_quietly()
            raise self._error(operation, exc) from None

    def _rollback_quietly(self) -> None:
        # The error that led here is the one worth reporting.
        with suppress(*self._driver_errors):
            self._control("ROLLBACK")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._close_connection()
            except self._driver_errors as exc:
                raise self._error("close", exc) from None


def as_utc(value: datetime, operation: str, argument: str) -> datetime:
    """Return ``value`` in UTC; raise StorageError naming ``argument`` if it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise StorageError(f"{operation} failed: {argument} must be timezone-aware")
    return value.astimezone(UTC)


def dump_json(value: Any, operation: str, argument: str) -> str:
    """Serialize ``value`` as compact JSON; raise StorageError naming ``argument`` if it is not."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise StorageError(f"{operation} failed: {argument} is not JSON-serializable") from None


def check_grants(grants: Mapping[str, bool], operation: str, argument: str) -> dict[str, bool]:
    """Return ``grants`` as a dict; raise StorageError naming the entry that is not a bool."""
    for name, granted in grants.items():
        if not isinstance(name, str) or not isinstance(granted, bool):
            raise StorageError(f"{operation} failed: {argument}.{name} must map a name to a bool")
    return dict(grants)


def check_status(status: str, allowed: Sequence[str], operation: str) -> str:
    """Return ``status``; raise StorageError naming ``operation`` if it is not allowed."""
    if status not in allowed:
        raise StorageError(f"{operation} failed: status must be one of {', '.join(allowed)}")
    return status


def finite(value: float, operation: str, argument: str) -> float:
    """Return ``value`` as a float; raise StorageError naming ``argument`` unless it is a
    finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StorageError(f"{operation} failed: {argument} must be a finite number")
    return float(value)
