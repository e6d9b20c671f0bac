"""SQLite store: subject preferences."""

from __future__ import annotations

from cdp_plugin.storage.sql.preferences import SQLPreferences
from cdp_plugin.storage.sqlite.core import SQLiteCore


class SQLitePreferences(SQLPreferences, SQLiteCore):
    """The subject preferences of a SQLite store."""

    _GET_PREFERENCES = "SELECT data FROM preferences WHERE subject_key = ?"
    _PUT_PREFERENCES = (
        "INSERT INTO preferences (subject_key, data, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (subject_key) DO UPDATE SET data = excluded.data, "
        "updated_at = excluded.updated_at"
    )
    _DELETE_PREFERENCES = "DELETE FROM preferences WHERE subject_key = ?"
    _ALL_PROFILES = "SELECT subject_key, data, updated_at FROM profiles ORDER BY subject_key"
    _REPLACE_PROFILE_DATA = "UPDATE profiles SET data = ? WHERE subject_key = ?"
    _DELETE_PROFILE_ROW = "DELETE FROM profiles WHERE subject_key = ?"
