"""SQL store: subject profiles, shared by the SQL backends."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import dump_json
from cdp_plugin.storage.sql.core import SQLCore


class SQLProfiles(SQLCore):
    """The subject profiles of a SQL store; a backend sets the statements."""

    _GET_PROFILE: ClassVar[str]
    _PUT_PROFILE: ClassVar[str]
    _DELETE_PROFILE: ClassVar[str]
    _FIRST_PROFILES: ClassVar[str]
    _NEXT_PROFILES: ClassVar[str]

    def get_profile(self, subject_key: str) -> dict[str, Any] | None:
        with self._scope("get_profile", atomic=False):
            row = self._conn.execute(self._GET_PROFILE, (subject_key,)).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = self._from_db_json(row[0], "get_profile")
        return data

    def put_profile(self, subject_key: str, data: Mapping[str, Any], updated_at: datetime) -> None:
        op = "put_profile"
        if not isinstance(data, Mapping):
            raise StorageError(f"{op} failed: data must be a mapping")
        text = dump_json(dict(data), op, "data")
        at = self._to_db_time(updated_at, op, "updated_at")
        with self._scope(op, atomic=False):
            self._conn.execute(self._PUT_PROFILE, (subject_key, text, at))

    def delete_profile(self, subject_key: str) -> bool:
        with self._scope("delete_profile", atomic=False):
            return self._conn.execute(self._DELETE_PROFILE, (subject_key,)).rowcount > 0

    def iter_profiles(self) -> Iterator[tuple[str, dict[str, Any]]]:
        op = "iter_profiles"
        size = self.page_size
        last: str | None = None
        while True:
            # The lock is held per page only, so the caller may use the store
            # between pages.
            with self._scope(op, atomic=False):
                if last is None:
                    rows = self._conn.execute(self._FIRST_PROFILES, (size,)).fetchall()
                else:
                    rows = self._conn.execute(self._NEXT_PROFILES, (last, size)).fetchall()
            for key, text in rows:
                yield key, self._from_db_json(text, op)
            if len(rows) < size:
                return
            last = rows[-1][0]
