"""SQL store: quarantined events, shared by the SQL backends."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from cdp_plugin.storage.base import QuarantinedEvent
from cdp_plugin.storage.sql.core import SQLCore


class SQLQuarantineRows(SQLCore):
    """Reading quarantine rows; shared by the quarantine and retention concerns."""

    def _quarantined_event(self, row: tuple[Any, ...]) -> QuarantinedEvent:
        event_id, subject_key, message_id, payload, received, expires = row
        return QuarantinedEvent(
            id=event_id, subject_key=subject_key, message_id=message_id, payload=payload,
            received_at=self._from_db_time(received), expires_at=self._from_db_time(expires),
        )


class SQLQuarantine(SQLQuarantineRows):
    """The quarantined events of a SQL store; a backend sets the statements and the
    writes whose results its driver reports differently."""

    _QUARANTINE_LIST: ClassVar[str]
    _QUARANTINE_EXPIRED: ClassVar[str]

    def quarantine_list(self, subject_key: str) -> list[QuarantinedEvent]:
        with self._scope("quarantine_list", atomic=False):
            rows = self._conn.execute(self._QUARANTINE_LIST, (subject_key,)).fetchall()
        return [self._quarantined_event(row) for row in rows]

    def quarantine_expired(self, now: datetime) -> list[QuarantinedEvent]:
        at = self._to_db_time(now, "quarantine_expired", "now")
        with self._scope("quarantine_expired", atomic=False):
            rows = self._conn.execute(self._QUARANTINE_EXPIRED, (at,)).fetchall()
        return [self._quarantined_event(row) for row in rows]
