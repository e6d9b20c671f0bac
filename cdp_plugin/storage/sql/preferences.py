"""SQL store: subject preferences, shared by the SQL backends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import dump_json
from cdp_plugin.storage.sql.core import SQLCore

LEGACY_PROFILE_KEYS = ("residency", "preferences")
"""Where schema version 1 kept preferences: inside the profile row, as the
top-level ``residency`` and the ``preferences`` mapping."""


class SQLPreferences(SQLCore):
    """The subject preferences of a SQL store; a backend sets the statements."""

    _GET_PREFERENCES: ClassVar[str]
    _PUT_PREFERENCES: ClassVar[str]
    _DELETE_PREFERENCES: ClassVar[str]
    _ALL_PROFILES: ClassVar[str]
    _REPLACE_PROFILE_DATA: ClassVar[str]
    _DELETE_PROFILE_ROW: ClassVar[str]

    def get_preferences(self, subject_key: str) -> dict[str, Any] | None:
        with self._scope("get_preferences", atomic=False):
            row = self._conn.execute(self._GET_PREFERENCES, (subject_key,)).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = self._from_db_json(row[0], "get_preferences")
        return data

    def put_preferences(self, subject_key: str, data: Mapping[str, Any],
                        updated_at: datetime) -> None:
        op = "put_preferences"
        if not isinstance(data, Mapping):
            raise StorageError(f"{op} failed: data must be a mapping")
        text = dump_json(dict(data), op, "data")
        at = self._to_db_time(updated_at, op, "updated_at")
        with self._scope(op, atomic=False):
            self._conn.execute(self._PUT_PREFERENCES, (subject_key, text, at))

    def delete_preferences(self, subject_key: str) -> bool:
        with self._scope("delete_preferences", atomic=False):
            return self._conn.execute(self._DELETE_PREFERENCES, (subject_key,)).rowcount > 0

    def _upgrade_schema(self, found: str) -> None:
        """From version 1: move the preferences out of the profile rows into their
        own table, keeping each row's update time; a profile left empty goes."""
        if found != "1":
            super()._upgrade_schema(found)
            return
        op = "open"
        for subject_key, stored, updated_at in self._conn.execute(self._ALL_PROFILES).fetchall():
            profile: dict[str, Any] = self._from_db_json(stored, op)
            if not any(key in profile for key in LEGACY_PROFILE_KEYS):
                continue
            chosen = profile.pop("preferences", None)
            preferences = dict(chosen) if isinstance(chosen, Mapping) else {}
            if "residency" in profile:
                preferences["residency"] = profile.pop("residency")
            self._conn.execute(self._PUT_PREFERENCES,
                               (subject_key, dump_json(preferences, op, "data"), updated_at))
            if profile:
                self._conn.execute(self._REPLACE_PROFILE_DATA,
                                   (dump_json(profile, op, "data"), subject_key))
            else:
                self._conn.execute(self._DELETE_PROFILE_ROW, (subject_key,))
