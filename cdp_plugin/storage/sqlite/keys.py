"""SQLite store: wrapped per-subject keys."""

from __future__ import annotations

from cdp_plugin.storage.sql.keys import SQLKeys
from cdp_plugin.storage.sqlite.core import SQLiteCore


class SQLiteKeys(SQLKeys, SQLiteCore):
    """The wrapped per-subject keys of a SQLite store."""

    _PUT_KEY = (
        "INSERT INTO subject_keys (subject_key, key_id, wrapped_key, created_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (subject_key, key_id) DO NOTHING"
    )
    _GET_KEY = "SELECT wrapped_key FROM subject_keys WHERE subject_key = ? AND key_id = ?"
    _GET_KEYS = (
        "SELECT key_id, wrapped_key FROM subject_keys WHERE subject_key = ? "
        "ORDER BY created_at, key_id"
    )
    _DELETE_KEYS = "DELETE FROM subject_keys WHERE subject_key = ?"
    _PAGE_KEYS = (
        "SELECT subject_key, key_id, wrapped_key FROM subject_keys "
        "WHERE (subject_key, key_id) > (?, ?) ORDER BY subject_key, key_id LIMIT ?"
    )
