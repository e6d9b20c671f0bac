"""PostgreSQL store: preference-center callbacks (webhook ids, outbox, tombstones, opt-in)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import OutboxNotice, as_utc, dump_json
from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.sql.callbacks import SQLCallbacks

_OUTBOX_COLUMNS = (
    "id, idempotency_key, destination, kind, subject_key, payload, status, attempts, "
    "next_attempt_at, created_at, updated_at, last_error"
)
_OPTIN_COLUMNS = (
    "token_id, subject_key, channel, status, captured_at, expires_at, details, settled_at"
)


class PostgresCallbacks(SQLCallbacks, PostgresCore):
    """The preference-center callbacks of a PostgreSQL store."""

    _REMEMBER_WEBHOOK = (
        "INSERT INTO webhook_ids (webhook_id, digest, seen_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (webhook_id) DO NOTHING"
    )
    _WEBHOOK_DIGEST = "SELECT digest FROM webhook_ids WHERE webhook_id = %s"
    _FORGET_WEBHOOKS = "DELETE FROM webhook_ids WHERE seen_at < %s"
    _OUTBOX_ADD = (
        "INSERT INTO outbox (idempotency_key, destination, kind, subject_key, payload, status, "
        "attempts, next_attempt_at, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, 'pending', 0, %s, %s, %s) "
        "ON CONFLICT (idempotency_key) DO NOTHING"
    )
    # SKIP LOCKED: connections leasing at once take disjoint notices.
    _OUTBOX_LEASE = (
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = %s, updated_at = %s "
        "WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= %s "
        "ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
        f"RETURNING {_OUTBOX_COLUMNS}"
    )
    _OUTBOX_SETTLE = (
        "UPDATE outbox SET status = %s, next_attempt_at = %s, last_error = %s, updated_at = %s "
        "WHERE id = %s AND attempts = %s AND status = 'pending'"
    )
    _OUTBOX_NEXT_DUE = "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'"
    _OUTBOX_LIST = (
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE (%s::text IS NULL OR subject_key = %s) "
        "AND (%s::text IS NULL OR status = %s) ORDER BY id"
    )
    _ADD_TOMBSTONE = (
        "INSERT INTO tombstones (subject_key, erased_at, proof) VALUES (%s, %s, %s::jsonb) "
        "RETURNING id"
    )
    _TOMBSTONES = (
        "SELECT id, subject_key, erased_at, proof FROM tombstones WHERE subject_key = %s "
        "ORDER BY id"
    )
    _OPTIN_ADD = (
        "INSERT INTO optin_requests (token_id, subject_key, channel, status, captured_at, "
        "expires_at, details) VALUES (%s, %s, %s, 'pending', %s, %s, %s::jsonb)"
    )
    _OPTIN_GET = f"SELECT {_OPTIN_COLUMNS} FROM optin_requests WHERE token_id = %s"
    _OPTIN_SETTLE = (
        "UPDATE optin_requests SET status = %s, settled_at = %s "
        "WHERE token_id = %s AND status = 'pending'"
    )
    _OPTIN_CANCEL = (
        "UPDATE optin_requests SET status = 'cancelled', settled_at = %s WHERE subject_key = %s "
        "AND channel = %s AND status = 'pending' AND captured_at <= %s"
    )
    _OPTIN_LIST = (
        f"SELECT {_OPTIN_COLUMNS} FROM optin_requests WHERE subject_key = %s "
        "ORDER BY captured_at, token_id"
    )
    _OPTIN_DELETE = "DELETE FROM optin_requests WHERE subject_key = %s"

    def outbox_lease(self, now: datetime, lease_until: datetime,
                     limit: int) -> list[OutboxNotice]:
        op = "outbox_lease"
        params = (as_utc(lease_until, op, "lease_until"), as_utc(now, op, "now"),
                  as_utc(now, op, "now"), limit)
        with self._scope(op, atomic=False):
            rows = self._conn.execute(self._OUTBOX_LEASE, params).fetchall()
        return sorted((self._notice(row) for row in rows), key=lambda notice: notice.id)

    def add_tombstone(self, subject_key: str, erased_at: datetime,
                      proof: Mapping[str, Any]) -> int:
        op = "add_tombstone"
        row = (subject_key, as_utc(erased_at, op, "erased_at"),
               dump_json(dict(proof), op, "proof"))
        with self._scope(op, atomic=False):
            fetched = self._conn.execute(self._ADD_TOMBSTONE, row).fetchone()
        if fetched is None:
            raise StorageError(f"{op} failed: no id was assigned")
        new_id: int = fetched[0]
        return new_id
