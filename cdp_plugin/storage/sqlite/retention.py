"""SQLite store: retention, removing what has outlived its time to live."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.sql.core import PROFILE_READS
from cdp_plugin.storage.sql.retention import SQLRetention
from cdp_plugin.storage.sqlite.convert import to_micros
from cdp_plugin.storage.sqlite.core import SQLiteCore
from cdp_plugin.storage.sqlite.quarantine import QUARANTINE_COLUMNS


class SQLiteRetention(SQLRetention, SQLiteCore):
    """The retention of a SQLite store."""

    _QUARANTINE_RECEIVED_BEFORE = (
        f"SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE received_at < ? ORDER BY id"
    )
    _DELETE_PROFILES_BEFORE = "DELETE FROM profiles WHERE updated_at < ?"
    # PATHS and ANY_PATH expand to one JSON path per field name ('$."features"').
    _DROP_PROFILE_FIELDS = (
        "UPDATE profiles SET data = json_remove(data, PATHS) "
        "WHERE updated_at < ? AND (ANY_PATH)"
    )
    _BLANK_PROOFS = (
        "UPDATE consent_ledger SET proof = '{}' WHERE captured_at < ? AND proof <> '{}' "
        "AND seq NOT IN (SELECT seq FROM consent_current)"
    )
    _DELETE_SENDS_BEFORE = "DELETE FROM sends WHERE sent_at < ?"

    def drop_profile_fields_before(self, updated_before: datetime, names: Sequence[str]) -> int:
        op = "drop_profile_fields_before"
        at = to_micros(updated_before, op, "updated_before")
        if any('"' in name for name in names):
            raise StorageError(f"{op} failed: a field name must not contain a double quote")
        if not names:
            return 0
        # json.dumps quotes a name as a JSON path label must be quoted.
        paths = [f"$.{json.dumps(name, ensure_ascii=False)}" for name in names]
        query = self._DROP_PROFILE_FIELDS.replace("PATHS", ", ".join("?" for _ in paths)).replace(
            "ANY_PATH", " OR ".join("json_type(data, ?) IS NOT NULL" for _ in paths))
        with self._scope(op, atomic=False):
            self._forget_reads(PROFILE_READS)
            return self._conn.execute(query, (*paths, at, *paths)).rowcount
