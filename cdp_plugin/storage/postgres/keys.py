"""PostgreSQL store: wrapped per-subject keys."""

from __future__ import annotations

from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.sql.keys import SQLKeys


class PostgresKeys(SQLKeys, PostgresCore):
    """The wrapped per-subject keys of a PostgreSQL store."""

    _PUT_KEY = (
        "INSERT INTO subject_keys (subject_key, key_id, wrapped_key, created_at) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (subject_key, key_id) DO NOTHING"
    )
    _GET_KEY = "SELECT wrapped_key FROM subject_keys WHERE subject_key = %s AND key_id = %s"
    _GET_KEYS = (
        "SELECT key_id, wrapped_key FROM subject_keys WHERE subject_key = %s "
        "ORDER BY created_at, key_id"
    )
    _DELETE_KEYS = "DELETE FROM subject_keys WHERE subject_key = %s"
    _PAGE_KEYS = (
        "SELECT subject_key, key_id, wrapped_key FROM subject_keys "
        "WHERE (subject_key, key_id) > (%s, %s) ORDER BY subject_key, key_id LIMIT %s"
    )
