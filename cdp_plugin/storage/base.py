"""The storage interface: consent ledger, profiles, quarantine, sends, subject keys, dedup.

Every ``subject_key`` handed to a store is already a keyed pseudonym; a store
never sees raw identifiers. Every failure is a :class:`StorageError` whose
message names the operation, never the data involved.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
