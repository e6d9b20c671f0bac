"""PostgreSQL store: retention, removing what has outlived its time to live."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import as_utc
from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.postgres.quarantine import QUARANTINE_COLUMNS
from cdp_plugin.storage.sql.core import PROFILE_READS
from cdp_plugin.storage.sql.retention import SQLRetention


class PostgresRetention(SQLRetention, PostgresCore):
    """The retention of a PostgreSQL store."""

    _QUARANTINE_RECEIVED_BEFORE = (
        f"SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE received_at < %s ORDER BY id"
    )
    _DELETE_PROFILES_BEFORE = "DELETE FROM profiles WHERE updated_at < %s"
    _DROP_PROFILE_FIELDS = (
        "UPDATE profiles SET data = data - %s::text[] "
        "WHERE updated_at < %s AND jsonb_exists_any(data, %s::text[])"
    )
    _BLANK_PROOFS = (
        "UPDATE consent_ledger SET proof = '{}'::jsonb WHERE captured_at < %s "
        "AND proof <> '{}'::jsonb AND seq NOT IN (SELECT seq FROM consent_current)"
    )
    _DELETE_SENDS_BEFORE = "DELETE FROM sends WHERE sent_at < %s"

    def drop_profile_fields_before(self, updated_before: datetime, names: Sequence[str]) -> int:
        op = "drop_profile_fields_before"
        at = as_utc(updated_before, op, "updated_before")
        keys = list(names)
        if any('"' in key for key in keys):
            raise StorageError(f"{op} failed: a field name must not contain a double quote")
        if not keys:
            return 0
        with self._scope(op, atomic=False):
            self._forget_reads(PROFILE_READS)
            return self._conn.execute(self._DROP_PROFILE_FIELDS, (keys, at, keys)).rowcount
