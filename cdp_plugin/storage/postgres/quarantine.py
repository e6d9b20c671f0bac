"""PostgreSQL store: quarantined events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import as_utc
from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.sql.core import QUARANTINE_COUNTS
from cdp_plugin.storage.sql.quarantine import SQLQuarantine

QUARANTINE_COLUMNS = "id, subject_key, message_id, payload, received_at, expires_at"


class PostgresQuarantine(SQLQuarantine, PostgresCore):
    """The quarantined events of a PostgreSQL store."""

    _QUARANTINE_ADD = (
        "INSERT INTO quarantine (subject_key, message_id, payload, received_at, expires_at) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id"
    )
    _QUARANTINE_LIST = (
        f"SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE subject_key = %s ORDER BY id"
    )
    _QUARANTINE_COUNT = "SELECT count(*) FROM quarantine WHERE subject_key = %s"
    _QUARANTINE_COUNTS_MANY = ("SELECT subject_key, count(*) FROM quarantine "
                               "WHERE subject_key = ANY(%s) GROUP BY subject_key")
    _QUARANTINE_REMOVE = "DELETE FROM quarantine WHERE id = ANY(%s)"
    _QUARANTINE_EXPIRED = (
        f"SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE expires_at <= %s ORDER BY id"
    )

    def quarantine_add(
        self,
        subject_key: str,
        message_id: str,
        payload: str,
        received_at: datetime,
        expires_at: datetime,
    ) -> int:
        op = "quarantine_add"
        row = (
            subject_key, message_id, payload,
            as_utc(received_at, op, "received_at"), as_utc(expires_at, op, "expires_at"),
        )
        with self._scope(op, atomic=False):
            fetched = self._conn.execute(self._QUARANTINE_ADD, row).fetchone()
            self._count_added(subject_key)
        if fetched is None:
            raise StorageError(f"{op} failed: no id was assigned")
        new_id: int = fetched[0]
        return new_id

    def quarantine_count(self, subject_key: str) -> int:
        with self._scope("quarantine_count", atomic=False):
            ahead = self._count_read_ahead(subject_key)
            if ahead is not None:
                return ahead
            row = self._conn.execute(self._QUARANTINE_COUNT, (subject_key,)).fetchone()
        return 0 if row is None else int(row[0])

    def quarantine_remove(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        with self._scope("quarantine_remove", atomic=False):
            self._forget_reads(QUARANTINE_COUNTS)
            return self._conn.execute(self._QUARANTINE_REMOVE, (list(ids),)).rowcount
