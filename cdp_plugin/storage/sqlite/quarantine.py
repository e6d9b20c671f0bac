"""SQLite store: quarantined events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.sql.core import QUARANTINE_COUNTS
from cdp_plugin.storage.sql.quarantine import SQLQuarantine
from cdp_plugin.storage.sqlite.convert import to_micros
from cdp_plugin.storage.sqlite.core import SQLiteCore

QUARANTINE_COLUMNS = "id, subject_key, message_id, payload, received_at, expires_at"


class SQLiteQuarantine(SQLQuarantine, SQLiteCore):
    """The quarantined events of a SQLite store."""

    _QUARANTINE_ADD = (
        "INSERT INTO quarantine (subject_key, message_id, payload, received_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)"
    )
    _QUARANTINE_LIST = (
        f"SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE subject_key = ? ORDER BY id"
    )
    _QUARANTINE_COUNT = "SELECT count(*) FROM quarantine WHERE subject_key = ?"
    _QUARANTINE_COUNTS_MANY = ("SELECT subject_key, count(*) FROM quarantine "
                               "WHERE subject_key IN (KEYS) GROUP BY subject_key")
    _QUARANTINE_REMOVE = "DELETE FROM quarantine WHERE id = ?"
    _QUARANTINE_EXPIRED = (
        f"SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE expires_at <= ? ORDER BY id"
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
            to_micros(received_at, op, "received_at"), to_micros(expires_at, op, "expires_at"),
        )
        with self._scope(op, atomic=False):
            new_id = self._conn.execute(self._QUARANTINE_ADD, row).lastrowid
            self._count_added(subject_key)
        if new_id is None:
            raise StorageError(f"{op} failed: no id was assigned")
        return new_id

    def quarantine_count(self, subject_key: str) -> int:
        with self._scope("quarantine_count", atomic=False):
            ahead = self._count_read_ahead(subject_key)
            if ahead is not None:
                return ahead
            count: int = self._conn.execute(self._QUARANTINE_COUNT, (subject_key,)).fetchone()[0]
        return count

    def quarantine_remove(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        # executemany sums the rows each id deleted; one cached statement
        # avoids building IN lists against SQLite's parameter limit.
        with self._scope("quarantine_remove", atomic=True):
            self._forget_reads(QUARANTINE_COUNTS)
            return self._conn.executemany(self._QUARANTINE_REMOVE, [(i,) for i in ids]).rowcount
