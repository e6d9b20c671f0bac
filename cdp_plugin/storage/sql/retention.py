"""SQL store: retention, removing what has outlived its time to live; shared by the SQL
backends."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from cdp_plugin.storage.base import QuarantinedEvent
from cdp_plugin.storage.sql.core import PROFILE_READS
from cdp_plugin.storage.sql.quarantine import SQLQuarantineRows


class SQLRetention(SQLQuarantineRows):
    """The retention of a SQL store; a backend sets the statements and drops profile
    fields in its own JSON dialect."""

    _QUARANTINE_RECEIVED_BEFORE: ClassVar[str]
    _DELETE_PROFILES_BEFORE: ClassVar[str]
    _BLANK_PROOFS: ClassVar[str]
    _DELETE_SENDS_BEFORE: ClassVar[str]

    def quarantine_received_before(self, before: datetime) -> list[QuarantinedEvent]:
        at = self._to_db_time(before, "quarantine_received_before", "before")
        with self._scope("quarantine_received_before", atomic=False):
            rows = self._conn.execute(self._QUARANTINE_RECEIVED_BEFORE, (at,)).fetchall()
        return [self._quarantined_event(row) for row in rows]

    def delete_profiles_before(self, updated_before: datetime) -> int:
        at = self._to_db_time(updated_before, "delete_profiles_before", "updated_before")
        with self._scope("delete_profiles_before", atomic=False):
            self._forget_reads(PROFILE_READS)
            return self._conn.execute(self._DELETE_PROFILES_BEFORE, (at,)).rowcount

    def blank_consent_proofs(self, captured_before: datetime) -> int:
        at = self._to_db_time(captured_before, "blank_consent_proofs", "captured_before")
        with self._scope("blank_consent_proofs", atomic=False):
            return self._conn.execute(self._BLANK_PROOFS, (at,)).rowcount

    def delete_sends_before(self, before: datetime) -> int:
        at = self._to_db_time(before, "delete_sends_before", "before")
        with self._scope("delete_sends_before", atomic=False):
            return self._conn.execute(self._DELETE_SENDS_BEFORE, (at,)).rowcount
