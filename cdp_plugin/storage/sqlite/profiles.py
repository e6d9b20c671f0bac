"""SQLite store: subject profiles."""

from __future__ import annotations

from cdp_plugin.storage.sql.profiles import SQLProfiles
from cdp_plugin.storage.sqlite.core import SQLiteCore


class SQLiteProfiles(SQLProfiles, SQLiteCore):
    """The subject profiles of a SQLite store."""

    _GET_PROFILE = "SELECT data FROM profiles WHERE subject_key = ?"
    _PUT_PROFILE = (
        "INSERT INTO profiles (subject_key, data, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (subject_key) DO UPDATE SET data = excluded.data, "
        "updated_at = excluded.updated_at"
    )
    _DELETE_PROFILE = "DELETE FROM profiles WHERE subject_key = ?"
    _PROFILES_MANY = "SELECT subject_key, data FROM profiles WHERE subject_key IN (KEYS)"
    _FIRST_PROFILES = "SELECT subject_key, data FROM profiles ORDER BY subject_key LIMIT ?"
    _NEXT_PROFILES = (
        "SELECT subject_key, data FROM profiles WHERE subject_key > ? ORDER BY subject_key LIMIT ?"
    )
