"""PostgreSQL store: retention, removing what has outlived its time to live."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import QuarantinedEvent, as_utc
from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.postgres.quarantine import QUARANTINE_COLUMNS, quarantined_event

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


class PostgresRetention(PostgresCore):
    """The retention of a PostgreSQL store."""

    def quarantine_received_before(self, before: datetime) -> list[QuarantinedEvent]:
        at = as_utc(before, "quarantine_received_before", "before")
        with self._scope("quarantine_received_before", atomic=False):
            rows = self._conn.execute(_QUARANTINE_RECEIVED_BEFORE, (at,)).fetchall()
        return [quarantined_event(row) for row in rows]

    def delete_profiles_before(self, updated_before: datetime) -> int:
        at = as_utc(updated_before, "delete_profiles_before", "updated_before")
        with self._scope("delete_profiles_before", atomic=False):
            return self._conn.execute(_DELETE_PROFILES_BEFORE, (at,)).rowcount

    def drop_profile_fields_before(self, updated_before: datetime, names: Sequence[str]) -> int:
        op = "drop_profile_fields_before"
        at = as_utc(updated_before, op, "updated_before")
        keys = list(names)
        if any('"' in key for key in keys):
            raise StorageError(f"{op} failed: a field name must not contain a double quote")
        if not keys:
            return 0
        with self._scope(op, atomic=False):
            return self._conn.execute(_DROP_PROFILE_FIELDS, (keys, at, keys)).rowcount

    def blank_consent_proofs(self, captured_before: datetime) -> int:
        at = as_utc(captured_before, "blank_consent_proofs", "captured_before")
        with self._scope("blank_consent_proofs", atomic=False):
            return self._conn.execute(_BLANK_PROOFS, (at,)).rowcount

    def delete_sends_before(self, before: datetime) -> int:
        at = as_utc(before, "delete_sends_before", "before")
        with self._scope("delete_sends_before", atomic=False):
            return self._conn.execute(_DELETE_SENDS_BEFORE, (at,)).rowcount
