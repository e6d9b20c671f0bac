"""SQL store: message dedup, shared by the SQL backends."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from cdp_plugin.storage.sql.core import SQLCore


class SQLMessages(SQLCore):
    """The message dedup of a SQL store; a backend sets the statements."""

    _REMEMBER: ClassVar[str]
    _FORGET: ClassVar[str]
    _FORGET_ONE: ClassVar[str]

    def remember_message(self, message_id: str, seen_at: datetime) -> bool:
        at = self._to_db_time(seen_at, "remember_message", "seen_at")
        with self._scope("remember_message", atomic=False):
            return self._conn.execute(self._REMEMBER, (message_id, at)).rowcount == 1

    def forget_message(self, message_id: str) -> bool:
        with self._scope("forget_message", atomic=False):
            return self._conn.execute(self._FORGET_ONE, (message_id,)).rowcount > 0

    def forget_messages_before(self, before: datetime) -> int:
        at = self._to_db_time(before, "forget_messages_before", "before")
        with self._scope("forget_messages_before", atomic=False):
            return self._conn.execute(self._FORGET, (at,)).rowcount
