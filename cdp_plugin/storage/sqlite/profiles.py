"""SQLite store: subject profiles."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import dump_json
from cdp_plugin.storage.sqlite.convert import load_json, to_micros
from cdp_plugin.storage.sqlite.core import SQLiteCore

_GET_PROFILE = "SELECT data FROM profiles WHERE subject_key = ?"
_PUT_PROFILE = (
    "INSERT INTO profiles (subject_key, data, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (subject_key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at"
)
_DELETE_PROFILE = "DELETE FROM profiles WHERE subject_key = ?"
_FIRST_PROFILES = "SELECT subject_key, data FROM profiles ORDER BY subject_key LIMIT ?"
_NEXT_PROFILES = (
    "SELECT subject_key, data FROM profiles WHERE subject_key > ? ORDER BY subject_key LIMIT ?"
)


class SQLiteProfiles(SQLiteCore):
    """The subject profiles of a SQLite store."""

    def get_profile(self, subject_key: str) -> dict[str, Any] | None:
        with self._scope("get_profile", atomic=False):
            row = self._conn.execute(_GET_PROFILE, (subject_key,)).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = load_json(row[0], "get_profile")
        return data

    def put_profile(self, subject_key: str, data: Mapping[str, Any], updated_at: datetime) -> None:
        op = "put_profile"
        if not isinstance(data, Mapping):
            raise StorageError(f"{op} failed: data must be a mapping")
        text = dump_json(dict(data), op, "data")
        at = to_micros(updated_at, op, "updated_at")
        with self._scope(op, atomic=False):
            self._conn.execute(_PUT_PROFILE, (subject_key, text, at))

    def delete_profile(self, subject_key: str) -> bool:
        with self._scope("delete_profile", atomic=False):
            return self._conn.execute(_DELETE_PROFILE, (subject_key,)).rowcount > 0

    def iter_profiles(self) -> Iterator[tuple[str, dict[str, Any]]]:
        op = "iter_profiles"
        size = self.page_size
        last: str | None = None
        while True:
            # The lock is held per page only, so the caller may use the store
            # between pages.
            with self._scope(op, atomic=False):
                if last is None:
                    rows = self._conn.execute(_FIRST_PROFILES, (size,)).fetchall()
                else:
                    rows = self._conn.execute(_NEXT_PROFILES, (last, size)).fetchall()
            for key, text in rows:
                yield key, load_json(text, op)
            if len(rows) < size:
                return
            last = rows[-1][0]
