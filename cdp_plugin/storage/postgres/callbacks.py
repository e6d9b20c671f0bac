"""PostgreSQL store: preference-center callbacks (webhook ids, outbox, tombstones, opt-in)."""

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
    as_utc,
    check_status,
    dump_json,
)
from cdp_plugin.storage.postgres.convert import utc
from cdp_plugin.storage.postgres.core import PostgresCore

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
_OUTBOX_COLUMNS = (
    "id, idempotency_key, destination, kind, subject_key, payload, status, attempts, "
    "next_attempt_at, created_at, updated_at, last_error"
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
    "SELECT id, subject_key, erased_at, proof FROM tombstones WHERE subject_key = %s ORDER BY id"
)
_OPTIN_COLUMNS = (
    "token_id, subject_key, channel, status, captured_at, expires_at, details, settled_at"
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


class PostgresCallbacks(PostgresCore):
    """The preference-center callbacks of a PostgreSQL store."""

    def remember_webhook(self, webhook_id: str, digest: str, seen_at: datetime) -> str | None:
        op = "remember_webhook"
        at = as_utc(seen_at, op, "seen_at")
        with self._scope(op, atomic=True):
            if self._conn.execute(_REMEMBER_WEBHOOK, (webhook_id, digest, at)).rowcount == 1:
                return None
            row = self._conn.execute(_WEBHOOK_DIGEST, (webhook_id,)).fetchone()
        return None if row is None else str(row[0])

    def forget_webhooks_before(self, before: datetime) -> int:
        at = as_utc(before, "forget_webhooks_before", "before")
        with self._scope("forget_webhooks_before", atomic=False):
            return self._conn.execute(_FORGET_WEBHOOKS, (at,)).rowcount

    def outbox_add(self, idempotency_key: str, destination: str, kind: str, subject_key: str,
                   payload: str, created_at: datetime) -> bool:
        at = as_utc(created_at, "outbox_add", "created_at")
        row = (idempotency_key, destination, kind, subject_key, payload, at, at, at)
        with self._scope("outbox_add", atomic=False):
            return self._conn.execute(_OUTBOX_ADD, row).rowcount == 1

    def outbox_lease(self, now: datetime, lease_until: datetime,
                     limit: int) -> list[OutboxNotice]:
        op = "outbox_lease"
        params = (as_utc(lease_until, op, "lease_until"), as_utc(now, op, "now"),
                  as_utc(now, op, "now"), limit)
        with self._scope(op, atomic=False):
            rows = self._conn.execute(_OUTBOX_LEASE, params).fetchall()
        return sorted((_notice(row) for row in rows), key=lambda notice: notice.id)

    def outbox_settle(self, notice_id: int, attempts: int, status: str,
                      next_attempt_at: datetime, last_error: str | None,
                      at: datetime) -> bool:
        op = "outbox_settle"
        check_status(status, OUTBOX_STATUSES, op)
        params = (status, as_utc(next_attempt_at, op, "next_attempt_at"), last_error,
                  as_utc(at, op, "at"), notice_id, attempts)
        with self._scope(op, atomic=False):
            return self._conn.execute(_OUTBOX_SETTLE, params).rowcount == 1

    def outbox_next_due(self) -> datetime | None:
        with self._scope("outbox_next_due", atomic=False):
            row = self._conn.execute(_OUTBOX_NEXT_DUE).fetchone()
        return None if row is None or row[0] is None else utc(row[0])

    def outbox_list(self, subject_key: str | None = None,
                    status: str | None = None) -> list[OutboxNotice]:
        params = (subject_key, subject_key, status, status)
        with self._scope("outbox_list", atomic=False):
            rows = self._conn.execute(_OUTBOX_LIST, params).fetchall()
        return [_notice(row) for row in rows]

    def add_tombstone(self, subject_key: str, erased_at: datetime,
                      proof: Mapping[str, Any]) -> int:
        op = "add_tombstone"
        row = (subject_key, as_utc(erased_at, op, "erased_at"),
               dump_json(dict(proof), op, "proof"))
        with self._scope(op, atomic=False):
            fetched = self._conn.execute(_ADD_TOMBSTONE, row).fetchone()
        if fetched is None:
            raise StorageError(f"{op} failed: no id was assigned")
        new_id: int = fetched[0]
        return new_id

    def tombstones(self, subject_key: str) -> list[Tombstone]:
        with self._scope("tombstones", atomic=False):
            rows = self._conn.execute(_TOMBSTONES, (subject_key,)).fetchall()
        return [Tombstone(id=row_id, subject_key=key, erased_at=utc(erased), proof=proof)
                for row_id, key, erased, proof in rows]

    def optin_add(self, token_id: str, subject_key: str, channel: str, captured_at: datetime,
                  expires_at: datetime, details: Mapping[str, Any]) -> None:
        op = "optin_add"
        row = (token_id, subject_key, channel, as_utc(captured_at, op, "captured_at"),
               as_utc(expires_at, op, "expires_at"), dump_json(dict(details), op, "details"))
        with self._scope(op, atomic=False):
            self._conn.execute(_OPTIN_ADD, row)

    def optin_get(self, token_id: str) -> OptInRequest | None:
        with self._scope("optin_get", atomic=False):
            row = self._conn.execute(_OPTIN_GET, (token_id,)).fetchone()
        return None if row is None else _optin(row)

    def optin_settle(self, token_id: str, status: str, at: datetime) -> bool:
        op = "optin_settle"
        check_status(status, OPTIN_STATUSES[1:], op)
        params = (status, as_utc(at, op, "at"), token_id)
        with self._scope(op, atomic=False):
            return self._conn.execute(_OPTIN_SETTLE, params).rowcount == 1

    def optin_cancel(self, subject_key: str, channel: str, captured_until: datetime,
                     at: datetime) -> int:
        op = "optin_cancel"
        params = (as_utc(at, op, "at"), subject_key, channel,
                  as_utc(captured_until, op, "captured_until"))
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
        next_attempt_at=utc(next_at), created_at=utc(created), updated_at=utc(updated),
        last_error=last_error,
    )


def _optin(row: tuple[Any, ...]) -> OptInRequest:
    token_id, subject_key, channel, status, captured, expires, details, settled = row
    return OptInRequest(
        token_id=token_id, subject_key=subject_key, channel=channel, status=status,
        captured_at=utc(captured), expires_at=utc(expires), details=details,
        settled_at=None if settled is None else utc(settled),
    )
