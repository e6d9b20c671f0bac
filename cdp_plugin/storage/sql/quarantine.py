"""SQL store: quarantined events, shared by the SQL backends."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from cdp_plugin.storage.base import QuarantinedEvent
from cdp_plugin.storage.sql.core import QUARANTINE_COUNTS, SQLCore, chunked


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
    _QUARANTINE_COUNTS_MANY: ClassVar[str]
    """Subject key and its number of held events for many subjects (see ``_for_keys``)."""

    def prefetch_quarantine_counts(self, subject_keys: Iterable[str]) -> None:
        wanted = sorted({key for key in subject_keys
                         if (QUARANTINE_COUNTS, key) not in self._read_ahead})
        if not self._in_transaction() or not wanted:
            return
        found = dict.fromkeys(wanted, 0)
        with self._scope("prefetch_quarantine_counts", atomic=False):
            for chunk in chunked(wanted):
                statement, parameters = self._for_keys(self._QUARANTINE_COUNTS_MANY, chunk)
                for key, count in self._conn.execute(statement, parameters).fetchall():
                    found[key] = int(count)
        for key, count in found.items():
            self._read_ahead[QUARANTINE_COUNTS, key] = count

    def _count_read_ahead(self, subject_key: str) -> int | None:
        count: int | None = self._read_ahead.get((QUARANTINE_COUNTS, subject_key))
        return count

    def _count_added(self, subject_key: str) -> None:
        """A held event was added: the subject's count read ahead, if any, is one more."""
        entry = (QUARANTINE_COUNTS, subject_key)
        if entry in self._read_ahead:
            self._read_ahead[entry] += 1

    def quarantine_list(self, subject_key: str) -> list[QuarantinedEvent]:
        with self._scope("quarantine_list", atomic=False):
            rows = self._conn.execute(self._QUARANTINE_LIST, (subject_key,)).fetchall()
        return [self._quarantined_event(row) for row in rows]

    def quarantine_expired(self, now: datetime) -> list[QuarantinedEvent]:
        at = self._to_db_time(now, "quarantine_expired", "now")
        with self._scope("quarantine_expired", atomic=False):
            rows = self._conn.execute(self._QUARANTINE_EXPIRED, (at,)).fetchall()
        return [self._quarantined_event(row) for row in rows]
