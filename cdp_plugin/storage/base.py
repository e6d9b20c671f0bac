"""The storage interface: consent ledger, profiles, preferences, quarantine, sends, keys, dedup.

Every ``subject_key`` handed to a store is already a keyed pseudonym; a store
never sees raw identifiers. Every failure is a :class:`StorageError` whose
message names the operation, never the data involved.
"""

from __future__ import annotations

import errno
import math
import threading
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from cdp_plugin import json_read
from cdp_plugin.errors import StorageError
from cdp_plugin.storage import json_text
from cdp_plugin.storage.contracts import (
    CallbackStore,
    ConsentLedger,
    DeliveryQueue,
    ExperimentStore,
    IdentityLinks,
    KeyStore,
    MessageDedup,
    PreferenceStore,
    ProfileStore,
    QuarantineStore,
    RetentionStore,
    SegmentStore,
    SendLog,
)
from cdp_plugin.storage.records import (
    OPTIN_STATUSES,
    OUTBOX_STATUSES,
    ConsentRecord,
    CurrentConsent,
    OptInRequest,
    OutboxNotice,
    QuarantinedEvent,
    SegmentDay,
    Tally,
    Tombstone,
)

__all__ = [
    "OPTIN_STATUSES",
    "OUTBOX_STATUSES",
    "SCHEMA_VERSION",
    "UPGRADABLE_VERSIONS",
    "ConsentRecord",
    "CurrentConsent",
    "OptInRequest",
    "OutboxNotice",
    "QuarantinedEvent",
    "SegmentDay",
    "SingleConnectionStore",
    "Store",
    "Tally",
    "Tombstone",
    "as_utc",
    "check_grants",
    "check_status",
    "dump_json",
    "finite",
]

SCHEMA_VERSION = "2"
"""Written to the ``meta`` table as ``schema_version``; a store refuses any other
but those it upgrades in place (:data:`UPGRADABLE_VERSIONS`)."""

UPGRADABLE_VERSIONS: frozenset[str] = frozenset({"1"})
"""Older versions a store upgrades when opened, in the transaction that opens it.
Version 1 kept preferences inside the profile rows."""


class Store(
    MessageDedup,
    ConsentLedger,
    ProfileStore,
    PreferenceStore,
    IdentityLinks,
    QuarantineStore,
    KeyStore,
    SendLog,
    CallbackStore,
    DeliveryQueue,
    ExperimentStore,
    SegmentStore,
    RetentionStore,
):
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
    def get_meta(self, name: str) -> str | None:
        """Return the setting ``name``, or None if unset. Raises StorageError on failure."""

    @abstractmethod
    def set_meta(self, name: str, value: str) -> None:
        """Create or replace the setting ``name``. Raises StorageError on failure."""

    @abstractmethod
    def scrub_deleted(self) -> bool:
        """Overwrite what deleted rows left in the database's own files.

        Returns True if no copy of a deleted row can remain in them, False if
        some may (another connection held the journal, or the backend keeps
        old row versions it does not overwrite on demand). Must not run inside
        a transaction: raises StorageError then, and on any other failure.
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
        # Rows read ahead for the open transaction (see prefetch_*), by (concern, key);
        # emptied when the outermost transaction ends, however it ends.
        self._read_ahead: dict[tuple[str, str], Any] = {}
        # Writes held back until the open transaction commits, per concern: the
        # statement and its rows by key (see SQLCore._hold_write); dropped on rollback.
        self._held: dict[str, tuple[str, dict[Any, tuple[Any, ...]]]] = {}

    @abstractmethod
    def _control(self, statement: str) -> None:
        """Run ``BEGIN``, ``COMMIT`` or ``ROLLBACK`` on the connection."""

    @abstractmethod
    def _close_connection(self) -> None:
        """Close the underlying connection."""

    def _before_commit(self) -> None:
        """Run what the transaction still owes the database before it commits (a
        backend that holds writes back sends them here); a driver error rolls the
        transaction back."""

    def _describe(self, exc: BaseException) -> str:
        """Name a driver error without its message, which may quote data."""
        return type(exc).__name__

    def _reconnect_if_lost(self, operation: str) -> None:
        """Before an operation outside any transaction: reopen a connection the
        server dropped. Backends without a server have nothing to do."""

    def _error(self, operation: str, exc: BaseException) -> StorageError:
        return StorageError(f"{operation} failed: {self._describe(exc)}")

    def transaction(self) -> AbstractContextManager[None]:
        return self._scope("transaction", atomic=True)

    def _scope(self, operation: str, *, atomic: bool) -> AbstractContextManager[None]:
        """Run one operation (or a caller's block) under the lock.

        ``atomic`` asks for a transaction of its own when none is open; a
        single statement does without, since the database makes it atomic.
        Inside an open transaction the operation joins it: a failure then
        fails the whole transaction.
        """
        return _Scope(self, operation, atomic)

    @contextmanager
    def _alone(self, operation: str, atomic: bool) -> Iterator[None]:
        """An operation outside any transaction (the lock is held by the caller)."""
        self._reconnect_if_lost(operation)
        if atomic:
            yield from self._outermost(operation)
            return
        try:
            yield
        except self._driver_errors as exc:
            raise self._error(operation, exc) from None

    def _outermost(self, operation: str) -> Iterator[None]:
        self._read_ahead.clear()
        self._held.clear()
        try:
            yield from self._begin_and_end(operation)
        finally:
            self._read_ahead.clear()
            self._held.clear()

    def _begin_and_end(self, operation: str) -> Iterator[None]:
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
            self._before_commit()
            self._control("COMMIT")
        except BaseException as exc:
            self._rollback_quietly()
            if isinstance(exc, self._driver_errors):
                raise self._error(operation, exc) from None
            raise

    def _in_transaction(self) -> bool:
        return self._depth > 0

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


_OS_REASONS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied: this process may not write there",
    errno.EPERM: "operation not permitted: this process may not write there",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.ENOTDIR: "a parent of the path is not a directory",
    errno.EISDIR: "the path is a directory",
}


def os_reason(exc: OSError) -> str:
    """What an operating-system error means for a path the store or the audit log
    needs to write, in words an operator can act on (never the path's contents)."""
    reason = _OS_REASONS.get(exc.errno or 0)
    name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return f"{reason} ({name})" if reason else name


def as_utc(value: datetime, operation: str, argument: str) -> datetime:
    """Return ``value`` in UTC; raise StorageError naming ``argument`` if it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise StorageError(f"{operation} failed: {argument} must be timezone-aware")
    return value.astimezone(UTC)


def dump_json(value: Any, operation: str, argument: str) -> str:
    """Serialize ``value`` as compact JSON; raise StorageError naming ``argument`` if it is not."""
    try:
        return json_text.dumps(value)
    except (TypeError, ValueError):
        raise StorageError(f"{operation} failed: {argument} is not JSON-serializable") from None


def load_json(text: str, operation: str) -> Any:
    """Parse stored JSON text; StorageError naming ``operation`` if it is corrupt."""
    try:
        return json_read.loads(text)
    except ValueError:
        raise StorageError(f"{operation} failed: a stored JSON value is corrupt") from None


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


class _Scope:
    """:meth:`SingleConnectionStore._scope` as a plain context manager: every store
    operation passes through one, and inside a transaction (the common case) a
    class costs a fraction of a generator-based context manager."""

    __slots__ = ("_alone", "_atomic", "_operation", "_store")

    def __init__(self, store: SingleConnectionStore, operation: str, atomic: bool) -> None:
        self._store = store
        self._operation = operation
        self._atomic = atomic
        self._alone: AbstractContextManager[None] | None = None

    def __enter__(self) -> None:
        store = self._store
        store._lock.acquire()
        try:
            if store._closed:
                raise StorageError(f"{self._operation} failed: the store is closed")
            if store._depth > 0:
                if store._failed:
                    raise StorageError(
                        f"{self._operation} failed: the enclosing transaction has failed")
                store._depth += 1
                return
            alone = store._alone(self._operation, self._atomic)
            alone.__enter__()
            self._alone = alone
        except BaseException:
            store._lock.release()
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: Any) -> bool | None:
        store = self._store
        try:
            if self._alone is not None:
                return self._alone.__exit__(kind, exc, traceback)
            store._depth -= 1
            if exc is not None:
                # Some databases abort the whole transaction on any error, so
                # every backend treats a failure inside as fatal to it alike.
                store._failed = True
                if isinstance(exc, store._driver_errors):
                    raise store._error(self._operation, exc) from None
            return None
        finally:
            store._lock.release()
