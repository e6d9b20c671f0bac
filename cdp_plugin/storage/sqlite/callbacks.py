"""SQLite store: preference-center callbacks (webhook ids, outbox, tombstones, opt-in)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import OutboxNotice, dump_json
from cdp_plugin.storage.sql.callbacks import SQLCallbacks
from cdp_plugin.storage.sqlite.convert import to_micros
from cdp_plugin.storage.sqlite.core import SQLiteCore

_OUTBOX_COLUMNS = (
    "id, idempotency_key, destination, kind, subject_key, payload, status, attempts, "
    "next_attempt_at, created_at, updated_at, last_error"
)
_OPTIN_COLUMNS = (
    "token_id, subject_key, channel, status, captured_at, expires_at, details, settled_at"
)


class SQLiteCallbacks(SQLCallbacks, SQLiteCore):
    """The preference-center callbacks of a SQLite store."""

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

    def outbox_lease(self, now: datetime, lease_until: datetime,
                     limit: int) -> list[OutboxNotice]:
        op = "outbox_lease"
        params = (to_micros(lease_until, op, "lease_until"), to_micros(now, op, "now"),
                  to_micros(now, op, "now"), limit)
        # BEGIN IMMEDIATE holds the write lock, so two connections never
        # lease the same notice.
        with self._scope(op, atomic=True):
            rows = self._conn.execute(self._OUTBOX_LEASE, params).fetchall()
        return sorted((self._notice(row) for row in rows), key=lambda notice: notice.id)

    def add_tombstone(self, subject_key: str, erased_at: datetime,
                      proof: Mapping[str, Any]) -> int:
        op = "add_tombstone"
        row = (subject_key, to_micros(erased_at, op, "erased_at"), dump_json(dict(proof), op,
                                                                          "proof"))
        with self._scope(op, atomic=False):
            new_id = self._conn.execute(self._ADD_TOMBSTONE, row).lastrowid
        if new_id is None:
            raise StorageError(f"{op} failed: no id was assigned")
        return new_id
