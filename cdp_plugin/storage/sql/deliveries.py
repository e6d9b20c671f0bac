"""SQL store: the delivery queue, shared by the SQL backends."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import check_status
from cdp_plugin.storage.records import DELIVERY_STATUSES, NewDelivery, QueuedDelivery
from cdp_plugin.storage.sql.core import SQLCore

DELIVERY_COLUMNS = (
    "id, destination, subject_key, message_key, purposes, payload, status, attempts, "
    "next_attempt_at, created_at, updated_at, last_error"
)
SETTLED = DELIVERY_STATUSES[:3]


class SQLDeliveries(SQLCore):
    """The delivery queue of a SQL store; a backend sets the statements."""

    _DELIVERY_ADD: ClassVar[str]
    _DELIVERY_LEASE: ClassVar[str]
    _DELIVERY_SETTLE: ClassVar[str]
    _DELIVERY_GIVE_BACK: ClassVar[str]
    _DELIVERY_PENDING_OF: ClassVar[str]
    _DELIVERY_CANCEL: ClassVar[str]
    _DELIVERY_DELETE: ClassVar[str]
    _DELIVERY_FORGET: ClassVar[str]
    _DELIVERY_REQUEUE: ClassVar[str]
    _DELIVERY_LIST: ClassVar[str]
    _DELIVERY_COUNTS: ClassVar[str]
    _DELIVERY_NEXT_DUE: ClassVar[str]

    def _lock_destination(self, destination: str) -> None:
        """Serialize leases of one destination across connections (a backend
        whose writers are serialized anyway does nothing)."""

    def delivery_add(self, deliveries: Sequence[NewDelivery], created_at: datetime) -> int:
        op = "delivery_add"
        at = self._to_db_time(created_at, op, "created_at")
        rows = [(d.destination, d.subject_key, d.message_key,
                 json.dumps(sorted(d.purposes)), d.payload, at, at, at) for d in deliveries]
        if not rows:
            return 0
        with self._scope(op, atomic=True):
            return self._execute_many(self._DELIVERY_ADD, rows)

    def delivery_lease(self, destination: str, now: datetime, lease_until: datetime,
                       limit: int) -> list[QueuedDelivery]:
        op = "delivery_lease"
        due = self._to_db_time(now, op, "now")
        params = (self._to_db_time(lease_until, op, "lease_until"), due, destination, due,
                  due, limit)
        with self._scope(op, atomic=True):
            self._lock_destination(destination)
            rows = self._conn.execute(self._DELIVERY_LEASE, params).fetchall()
        return sorted((self._delivery(row) for row in rows), key=lambda d: d.id)

    def delivery_settle(self, leased: Iterable[tuple[int, int]], status: str,
                        next_attempt_at: datetime, last_error: str | None, at: datetime, *,
                        count_attempt: bool = True) -> int:
        op = "delivery_settle"
        check_status(status, SETTLED, op)
        if not count_attempt and status != "pending":
            raise StorageError(f"{op} failed: only a pending delivery gives its attempt back")
        next_at = self._to_db_time(next_attempt_at, op, "next_attempt_at")
        when = self._to_db_time(at, op, "at")
        rows: list[tuple[Any, ...]]
        if count_attempt:
            statement = self._DELIVERY_SETTLE
            rows = [(status, next_at, last_error, when, status, i, n) for i, n in leased]
        else:
            statement = self._DELIVERY_GIVE_BACK
            rows = [(next_at, last_error, when, i, n) for i, n in leased]
        if not rows:
            return 0
        with self._scope(op, atomic=True):
            return self._execute_many(statement, rows)

    def delivery_cancel(self, subject_keys: Sequence[str], purposes: Iterable[str] | None,
                        at: datetime) -> list[QueuedDelivery]:
        op = "delivery_cancel"
        when = self._to_db_time(at, op, "at")
        withdrawn = None if purposes is None else frozenset(purposes)
        with self._scope(op, atomic=True):
            pending = [self._delivery(row) for key in sorted(set(subject_keys))
                       for row in self._conn.execute(self._DELIVERY_PENDING_OF,
                                                     (key,)).fetchall()]
            cancelled = [d for d in pending
                         if withdrawn is None or withdrawn.intersection(d.purposes)]
            if cancelled:
                self._execute_many(self._DELIVERY_CANCEL, [(when, d.id) for d in cancelled])
        return sorted(cancelled, key=lambda d: d.id)

    def delivery_delete(self, subject_keys: Sequence[str]) -> int:
        keys = sorted(set(subject_keys))
        if not keys:
            return 0
        with self._scope("delivery_delete", atomic=True):
            return self._execute_many(self._DELIVERY_DELETE, [(key,) for key in keys])

    def delivery_forget(self, settled_before: datetime) -> int:
        before = self._to_db_time(settled_before, "delivery_forget", "settled_before")
        with self._scope("delivery_forget", atomic=False):
            return int(self._conn.execute(self._DELIVERY_FORGET, (before,)).rowcount)

    def delivery_requeue(self, destination: str | None, ids: Sequence[int] | None,
                         at: datetime) -> list[QueuedDelivery]:
        op = "delivery_requeue"
        when = self._to_db_time(at, op, "at")
        wanted = None if ids is None else {int(i) for i in ids}
        with self._scope(op, atomic=True):
            dead = [self._delivery(row) for row in self._conn.execute(
                self._DELIVERY_LIST, (None, None, "dead", "dead", destination, destination,
                                      -1)).fetchall()]
            chosen = [d for d in dead if wanted is None or d.id in wanted]
            if chosen:
                self._execute_many(self._DELIVERY_REQUEUE, [(when, when, d.id) for d in chosen])
        return chosen

    def delivery_list(self, *, subject_key: str | None = None, status: str | None = None,
                      destination: str | None = None,
                      limit: int | None = None) -> list[QueuedDelivery]:
        params = (subject_key, subject_key, status, status, destination, destination,
                  -1 if limit is None else limit)
        with self._scope("delivery_list", atomic=False):
            rows = self._conn.execute(self._DELIVERY_LIST, params).fetchall()
        return [self._delivery(row) for row in rows]

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        with self._scope("delivery_counts", atomic=False):
            rows = self._conn.execute(self._DELIVERY_COUNTS).fetchall()
        return {(str(destination), str(status)): int(n) for destination, status, n in rows}

    def delivery_next_due(self, destination: str) -> datetime | None:
        with self._scope("delivery_next_due", atomic=False):
            row = self._conn.execute(self._DELIVERY_NEXT_DUE, (destination,)).fetchone()
        return None if row is None or row[0] is None else self._from_db_time(row[0])

    def _delivery(self, row: tuple[Any, ...]) -> QueuedDelivery:
        # A delivered or cancelled delivery keeps no payload: it is sent, or must not be.
        (delivery_id, destination, subject_key, message_key, purposes, payload, status,
         attempts, next_at, created, updated, last_error) = row
        return QueuedDelivery(
            id=int(delivery_id), destination=destination, subject_key=subject_key,
            message_key=message_key, purposes=tuple(json.loads(purposes)), payload=payload,
            status=status, attempts=int(attempts), next_attempt_at=self._from_db_time(next_at),
            created_at=self._from_db_time(created), updated_at=self._from_db_time(updated),
            last_error=last_error,
        )
