"""PostgreSQL store: subject profiles."""

from __future__ import annotations

from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.sql.profiles import SQLProfiles


class PostgresProfiles(SQLProfiles, PostgresCore):
    """The subject profiles of a PostgreSQL store."""

    _GET_PROFILE = "SELECT data FROM profiles WHERE subject_key = %s"
    _PUT_PROFILE = (
        "INSERT INTO profiles (subject_key, data, updated_at) VALUES (%s, %s::jsonb, %s) "
        "ON CONFLICT (subject_key) DO UPDATE SET data = excluded.data, "
        "updated_at = excluded.updated_at"
    )
    _DELETE_PROFILE = "DELETE FROM profiles WHERE subject_key = %s"
    _PROFILES_MANY = "SELECT subject_key, data::text FROM profiles WHERE subject_key = ANY(%s)"
    _FIRST_PROFILES = "SELECT subject_key, data FROM profiles ORDER BY subject_key LIMIT %s"
    _NEXT_PROFILES = (
        "SELECT subject_key, data FROM profiles WHERE subject_key > %s "
        "ORDER BY subject_key LIMIT %s"
    )
