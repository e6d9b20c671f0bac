"""SQLite store: preference-center callbacks (webhook ids, outbox, tombstones, opt-in)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import (
    OPTIN_STATUSES,
    OUTBOX_STATUSES,
    OptInRequest,
    OutboxNotice,
    Tombstone,
    check_status,
    dump_json,
)
from cdp_plugin.storage.sqlite.convert import from_micros, load_json, to_micros
from cdp_plugin.storage.sqlite.core import SQLiteCore

_REMEMBER_WEBHOOK = (
    "INSERT INTO webhook_ids (webhook_id, digest, seen_at) VALUES (?, ?, ?) "
    "ON CONFLICT (webhook_id) DO NOTHING"
)
_WEBHOOK_DIGEST = "SELECT digest FROM webhook_ids WHERE webhook_id = ?"
_FORGET_WEBHOOKS = "DELETE FROM webhook_ids WHERE seen_at < ?"
_OUTBOX_ADD = (
    "INSERT INTO outbox (idempotency_key, destination, kind, subject_key, payload, status, "
    "attempts, next_attempt_at, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING"
)
_OUTBOX_COLUMNS = (
    "id, idempotency_key, destination, kind, subject_key, payload, status, attempts, "
    "next_attempt_at, created_at, updated_at, last_error"
)
_OUTBOX_LEASE = (
    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ? "
    "WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? "
    f"ORDER BY next_attempt_at, id LIMIT ?) RETURNING {_OUTBOX_COLUMNS}"
)
_OUTBOX_SETTLE = (
    "UPDATE outbox SET status = ?, next_attempt_at = ?, last_error = ?, updated_at = ? "
    "WHERE id = ? AND attempts = ? AND status = 'pending'"
)
_OUTBOX_NEXT_DUE = "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'"
_OUTBOX_LIST = (
    f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE (? IS NULL OR subject_key = ?) "
    "AND (? IS NULL OR status = ?) ORDER BY id"
)
_ADD_TOMBSTONE = "INSERT INTO tombstones (subject_key, erased_at, proof) VALUES (?, ?, ?)"
_TOMBSTONES = (
    "SELECT id, subject_key, erased_at, proof FROM tombstones WHERE subject_key = ? ORDER BY id"
)
_OPTIN_COLUMNS = (
    "token_id, subject_key, channel, status, captured_at, expires_at, details, settled_at"
)
_OPTIN_ADD = (
    "INSERT INTO optin_requests (token_id, subject_key, channel, status, captured_at, "
    "expires_at, details) VALUES (?, ?, ?, 'pending', ?, ?, ?)"
)
_OPTIN_GET = f"SELECT {_OPTIN_COLUMNS} FROM optin_requests WHERE token_id = ?"
_OPTIN_SETTLE = (
    "UPDATE optin_requests SET status = ?, settled_at = ? "
    "WHERE token_id = ? AND status = 'pending'"
)
_OPTIN_CANCEL = (
    "UPDATE optin_requests SET status = 'cancelled', settled_at = ? WHERE subject_key = ? "
    "AND channel = ? AND status = 'pending' AND captured_at <= ?"
)
_OPTIN_LIST = (
    f"SELECT {_OPTIN_COLUMNS} FROM optin_requests WHERE subject_key = ? "
    "ORDER BY captured_at, token_id"
)
_OPTIN_DELETE = "DELETE FROM optin_requests WHERE subject_key = ?"


class SQLiteCallbacks(SQLiteCore):
    """The preference-center callbacks of a SQLite store."""

    def remember_webhook(self, webhook_id: str, digest: str, seen_at: datetime) -> str | None:
        op = "remember_webhook"
        at = to_micros(seen_at, op, "seen_at")
        with self._scope(op, atomic=True):
            if self._conn.execute(_REMEMBER_WEBHOOK, (webhook_id, digest, at)).rowcount == 1:
                return None
            row = self._conn.execute(_WEBHOOK_DIGEST, (webhook_id,)).fetchone()
        return None if row is None else str(row[0])

    def forget_webhooks_before(self, before: datetime) -> int:
        at = to_micros(before, "forget_webhooks_before", "before")
        with self._scope("forget_webhooks_before", atomic=False):
            return self._conn.execute(_FORGET_WEBHOOKS, (at,)).rowcount

    def outbox_add(self, idempotency_key: str, destination: str, kind: str, subject_key: str,
                   payload: str, created_at: datetime) -> bool:
        at = to_micros(created_at, "outbox_add", "created_at")
        row = (idempotency_key, destination, kind, subject_key, payload, at, at, at)
        with self._scope("outbox_add", atomic=False):
            return self._conn.execute(_OUTBOX_ADD, row).rowcount == 1

    def outbox_lease(self, now: datetime, lease_until: datetime,
                     limit: int) -> list[OutboxNotice]:
        op = "outbox_lease"
        params = (to_micros(lease_until, op, "lease_until"), to_micros(now, op, "now"),
                  to_micros(now, op, "now"), limit)
        # BEGIN IMMEDIATE holds the write lock, so two connections never
        # lease the same notice.
        with self._scope(op, atomic=True):
            rows = self._conn.execute(_OUTBOX_LEASE, params).fetchall()
        return sorted((_notice(row) for row in rows), key=lambda notice: notice.id)

    def outbox_settle(self, notice_id: int, attempts: int, status: str,
                      next_attempt_at: datetime, last_error: str | None,
                      at: datetime) -> bool:
        op = "outbox_settle"
        check_status(status, OUTBOX_STATUSES, op)
        params = (status, to_micros(next_attempt_at, op, "next_attempt_at"), last_error,
                  to_micros(at, op, "at"), notice_id, attempts)
        with self._scope(op, atomic=False):
            return self._conn.execute(_OUTBOX_SETTLE, params).rowcount == 1

    def outbox_next_due(self) -> datetime | None:
        with self._scope("outbox_next_due", atomic=False):
            row = self._conn.execute(_OUTBOX_NEXT_DUE).fetchone()
        return None if row is None or row[0] is None else from_micros(row[0])

    def outbox_list(self, subject_key: str | None = None,
                    status: str | None = None) -> list[OutboxNotice]:
        params = (subject_key, subject_key, status, status)
        with self._scope("outbox_list", atomic=False):
            rows = self._conn.execute(_OUTBOX_LIST, params).fetchall()
        return [_notice(row) for row in rows]

    def add_tombstone(self, subject_key: str, erased_at: datetime,
                      proof: Mapping[str, Any]) -> int:
        op = "add_tombstone"
        row = (subject_key, to_micros(erased_at, op, "erased_at"), dump_json(dict(proof), op,
                                                                          "proof"))
        with self._scope(op, atomic=False):
            new_id = self._conn.execute(_ADD_TOMBSTONE, row).lastrowid
        if new_id is None:
            raise StorageError(f"{op} failed: no id was assigned")
        return new_id

    def tombstones(self, subject_key: str) -> list[Tombstone]:
        op = "tombstones"
        with self._scope(op, atomic=False):
            rows = self._conn.execute(_TOMBSTONES, (subject_key,)).fetchall()
        return [Tombstone(id=row_id, subject_key=key, erased_at=from_micros(erased),
                          proof=load_json(proof, op))
                for row_id, key, erased, proof in rows]

    def optin_add(self, token_id: str, subject_key: str, channel: str, captured_at: datetime,
                  expires_at: datetime, details: Mapping[str, Any]) -> None:
        op = "optin_add"
        row = (token_id, subject_key, channel, to_micros(captured_at, op, "captured_at"),
               to_micros(expires_at, op, "expires_at"), dump_json(dict(details), op, "details"))
        with self._scope(op, atomic=False):
            self._conn.execute(_OPTIN_ADD, row)

    def optin_get(self, token_id: str) -> OptInRequest | None:
        with self._scope("optin_get", atomic=False):
            row = self._conn.execute(_OPTIN_GET, (token_id,)).fetchone()
        return None if row is None else _optin(row)

    def optin_settle(self, token_id: str, status: str, at: datetime) -> bool:
        op = "optin_settle"
        check_status(status, OPTIN_STATUSES[1:], op)
        params = (status, to_micros(at, op, "at"), token_id)
        with self._scope(op, atomic=False):
            return self._conn.execute(_OPTIN_SETTLE, params).rowcount == 1

    def optin_cancel(self, subject_key: str, channel: str, captured_until: datetime,
                     at: datetime) -> int:
        op = "optin_cancel"
        params = (to_micros(at, op, "at"), subject_key, channel,
                  to_micros(captured_until, op, "captured_until"))
        with self._scope(op, atomic=False):
            return self._conn.execute(_OPTIN_CANCEL, params).rowcount

    def optin_list(self, subject_key: str) -> list[OptInRequest]:
        with self._scope("optin_list", atomic=False):
            rows = self._conn.execute(_OPTIN_LIST, (subject_key,)).fetchall()
        return [_optin(row) for row in rows]

    def optin_delete(self, subject_key: str) -> int:
        with self._scope("optin_delete", atomic=False):
            return self._conn.execute(_OPTIN_DELETE, (subject_key,)).rowcount


def _notice(row: tuple[Any, ...]) -> OutboxNotice:
    (notice_id, key, destination, kind, subject_key, payload, status, attempts, next_at,
     created, updated, last_error) = row
    return OutboxNotice(
        id=notice_id, idempotency_key=key, destination=destination, kind=kind,
        subject_key=subject_key, payload=payload, status=status, attempts=attempts,
        next_attempt_at=from_micros(next_at), created_at=from_micros(created),
        updated_at=from_micros(updated), last_error=last_error,
    )


def _optin(row: tuple[Any, ...]) -> OptInRequest:
    token_id, subject_key, channel, status, captured, expires, details, settled = row
    return OptInRequest(
        token_id=token_id, subject_key=subject_key, channel=channel, status=status,
        captured_at=from_micros(captured), expires_at=from_micros(expires),
        details=load_json(details, "optin"),
        settled_at=None if settled is None else from_micros(settled),
    )
