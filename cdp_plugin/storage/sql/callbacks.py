"""SQL store: preference-center callbacks (webhook ids, outbox, tombstones, opt-in), shared
by the SQL backends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from cdp_plugin.storage.base import (
    OPTIN_STATUSES,
    OUTBOX_STATUSES,
    OptInRequest,
    OutboxNotice,
    Tombstone,
    check_status,
    dump_json,
)
from cdp_plugin.storage.sql.core import SQLCore


class SQLCallbacks(SQLCore):
    """The preference-center callbacks of a SQL store; a backend sets the statements."""

    _REMEMBER_WEBHOOK: ClassVar[str]
    _WEBHOOK_DIGEST: ClassVar[str]
    _FORGET_WEBHOOKS: ClassVar[str]
    _OUTBOX_ADD: ClassVar[str]
    _OUTBOX_SETTLE: ClassVar[str]
    _OUTBOX_NEXT_DUE: ClassVar[str]
    _OUTBOX_LIST: ClassVar[str]
    _TOMBSTONES: ClassVar[str]
    _OPTIN_ADD: ClassVar[str]
    _OPTIN_GET: ClassVar[str]
    _OPTIN_SETTLE: ClassVar[str]
    _OPTIN_CANCEL: ClassVar[str]
    _OPTIN_LIST: ClassVar[str]
    _OPTIN_DELETE: ClassVar[str]

    def remember_webhook(self, webhook_id: str, digest: str, seen_at: datetime) -> str | None:
        op = "remember_webhook"
        at = self._to_db_time(seen_at, op, "seen_at")
        with self._scope(op, atomic=True):
            if self._conn.execute(self._REMEMBER_WEBHOOK, (webhook_id, digest, at)).rowcount == 1:
                return None
            row = self._conn.execute(self._WEBHOOK_DIGEST, (webhook_id,)).fetchone()
        return None if row is None else str(row[0])

    def forget_webhooks_before(self, before: datetime) -> int:
        at = self._to_db_time(before, "forget_webhooks_before", "before")
        with self._scope("forget_webhooks_before", atomic=False):
            return self._conn.execute(self._FORGET_WEBHOOKS, (at,)).rowcount

    def outbox_add(self, idempotency_key: str, destination: str, kind: str, subject_key: str,
                   payload: str, created_at: datetime) -> bool:
        at = self._to_db_time(created_at, "outbox_add", "created_at")
        row = (idempotency_key, destination, kind, subject_key, payload, at, at, at)
        with self._scope("outbox_add", atomic=False):
            return self._conn.execute(self._OUTBOX_ADD, row).rowcount == 1

    def outbox_settle(self, notice_id: int, attempts: int, status: str,
                      next_attempt_at: datetime, last_error: str | None,
                      at: datetime) -> bool:
        op = "outbox_settle"
        check_status(status, OUTBOX_STATUSES, op)
        params = (status, self._to_db_time(next_attempt_at, op, "next_attempt_at"), last_error,
                  self._to_db_time(at, op, "at"), notice_id, attempts)
        with self._scope(op, atomic=False):
            return self._conn.execute(self._OUTBOX_SETTLE, params).rowcount == 1

    def outbox_next_due(self) -> datetime | None:
        with self._scope("outbox_next_due", atomic=False):
            row = self._conn.execute(self._OUTBOX_NEXT_DUE).fetchone()
        return None if row is None or row[0] is None else self._from_db_time(row[0])

    def outbox_list(self, subject_key: str | None = None,
                    status: str | None = None) -> list[OutboxNotice]:
        params = (subject_key, subject_key, status, status)
        with self._scope("outbox_list", atomic=False):
            rows = self._conn.execute(self._OUTBOX_LIST, params).fetchall()
        return [self._notice(row) for row in rows]

    def tombstones(self, subject_key: str) -> list[Tombstone]:
        op = "tombstones"
        with self._scope(op, atomic=False):
            rows = self._conn.execute(self._TOMBSTONES, (subject_key,)).fetchall()
        return [Tombstone(id=row_id, subject_key=key, erased_at=self._from_db_time(erased),
                          proof=self._from_db_json(proof, op))
                for row_id, key, erased, proof in rows]

    def optin_add(self, token_id: str, subject_key: str, channel: str, captured_at: datetime,
                  expires_at: datetime, details: Mapping[str, Any]) -> None:
        op = "optin_add"
        row = (token_id, subject_key, channel, self._to_db_time(captured_at, op, "captured_at"),
               self._to_db_time(expires_at, op, "expires_at"),
               dump_json(dict(details), op, "details"))
        with self._scope(op, atomic=False):
            self._conn.execute(self._OPTIN_ADD, row)

    def optin_get(self, token_id: str) -> OptInRequest | None:
        with self._scope("optin_get", atomic=False):
            row = self._conn.execute(self._OPTIN_GET, (token_id,)).fetchone()
        return None if row is None else self._optin(row)

    def optin_settle(self, token_id: str, status: str, at: datetime) -> bool:
        op = "optin_settle"
        check_status(status, OPTIN_STATUSES[1:], op)
        params = (status, self._to_db_time(at, op, "at"), token_id)
        with self._scope(op, atomic=False):
            return self._conn.execute(self._OPTIN_SETTLE, params).rowcount == 1

    def optin_cancel(self, subject_key: str, channel: str, captured_until: datetime,
                     at: datetime) -> int:
        op = "optin_cancel"
        params = (self._to_db_time(at, op, "at"), subject_key, channel,
                  self._to_db_time(captured_until, op, "captured_until"))
        with self._scope(op, atomic=False):
            return self._conn.execute(self._OPTIN_CANCEL, params).rowcount

    def optin_list(self, subject_key: str) -> list[OptInRequest]:
        with self._scope("optin_list", atomic=False):
            rows = self._conn.execute(self._OPTIN_LIST, (subject_key,)).fetchall()
        return [self._optin(row) for row in rows]

    def optin_delete(self, subject_key: str) -> int:
        with self._scope("optin_delete", atomic=False):
            return self._conn.execute(self._OPTIN_DELETE, (subject_key,)).rowcount

    def _notice(self, row: tuple[Any, ...]) -> OutboxNotice:
        (notice_id, key, destination, kind, subject_key, payload, status, attempts, next_at,
         created, updated, last_error) = row
        return OutboxNotice(
            id=notice_id, idempotency_key=key, destination=destination, kind=kind,
            subject_key=subject_key, payload=payload, status=status, attempts=attempts,
            next_attempt_at=self._from_db_time(next_at), created_at=self._from_db_time(created),
            updated_at=self._from_db_time(updated), last_error=last_error,
        )

    def _optin(self, row: tuple[Any, ...]) -> OptInRequest:
        token_id, subject_key, channel, status, captured, expires, details, settled = row
        return OptInRequest(
            token_id=token_id, subject_key=subject_key, channel=channel, status=status,
            captured_at=self._from_db_time(captured), expires_at=self._from_db_time(expires),
            details=self._from_db_json(details, "optin"),
            settled_at=None if settled is None else self._from_db_time(settled),
        )
