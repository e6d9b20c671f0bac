"""SQL store: recorded sends, shared by the SQL backends."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from cdp_plugin.storage.sql.core import SQLCore


class SQLSends(SQLCore):
    """The recorded sends of a SQL store; a backend sets the statements and reads sends
    under its own locking."""

    _RECORD_SEND: ClassVar[str]
    _DELETE_SENDS: ClassVar[str]

    def record_send(
        self, subject_key: str, channel: str, topic: str | None, sent_at: datetime
    ) -> None:
        at = self._to_db_time(sent_at, "record_send", "sent_at")
        with self._scope("record_send", atomic=False):
            self._conn.execute(self._RECORD_SEND, (subject_key, channel, topic, at))

    def delete_sends(self, subject_key: str) -> int:
        with self._scope("delete_sends", atomic=False):
            return self._conn.execute(self._DELETE_SENDS, (subject_key,)).rowcount
