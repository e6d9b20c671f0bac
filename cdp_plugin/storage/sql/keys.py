"""SQL store: wrapped per-subject keys, shared by the SQL backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.sql.core import SQLCore


class SQLKeys(SQLCore):
    """The wrapped per-subject keys of a SQL store; a backend sets the statements."""

    _PUT_KEY: ClassVar[str]
    _GET_KEY: ClassVar[str]
    _GET_KEYS: ClassVar[str]
    _DELETE_KEYS: ClassVar[str]
    _PAGE_KEYS: ClassVar[str]

    def put_key(
        self, subject_key: str, key_id: str, wrapped_key: bytes, created_at: datetime
    ) -> None:
        op = "put_key"
        key = bytes(wrapped_key)
        at = self._to_db_time(created_at, op, "created_at")
        with self._scope(op, atomic=True):
            if self._conn.execute(self._PUT_KEY, (subject_key, key_id, key, at)).rowcount == 1:
                return
            row = self._conn.execute(self._GET_KEY, (subject_key, key_id)).fetchone()
            if row is None or bytes(row[0]) != key:
                raise StorageError(f"{op} failed: a different key is stored under this key id")

    def get_keys(self, subject_key: str) -> dict[str, bytes]:
        with self._scope("get_keys", atomic=False):
            rows = self._conn.execute(self._GET_KEYS, (subject_key,)).fetchall()
        return {key_id: bytes(key) for key_id, key in rows}

    def iter_keys(self) -> Iterator[tuple[str, str, bytes]]:
        after = ("", "")
        while True:
            # The lock is held per page only, so the caller may write between pages.
            with self._scope("iter_keys", atomic=False):
                rows = self._conn.execute(self._PAGE_KEYS, (*after, self.page_size)).fetchall()
            for subject_key, key_id, wrapped in rows:
                yield subject_key, key_id, bytes(wrapped)
            if len(rows) < self.page_size:
                return
            after = (rows[-1][0], rows[-1][1])

    def delete_keys(self, subject_key: str) -> int:
        with self._scope("delete_keys", atomic=False):
            return self._conn.execute(self._DELETE_KEYS, (subject_key,)).rowcount
