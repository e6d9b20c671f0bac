"""SQLite store: message dedup."""

from __future__ import annotations

from datetime import datetime

from cdp_plugin.storage.sqlite.convert import to_micros
from cdp_plugin.storage.sqlite.core import SQLiteCore

_REMEMBER = (
    "INSERT INTO seen_messages (message_id, seen_at) VALUES (?, ?) "
    "ON CONFLICT (message_id) DO NOTHING"
)
_FORGET = "DELETE FROM seen_messages WHERE seen_at < ?"
_FORGET_ONE = "DELETE FROM seen_messages WHERE message_id = ?"


class SQLiteMessages(SQLiteCore):
    """The message dedup of a SQLite store."""

    def remember_message(self, message_id: str, seen_at: datetime) -> bool:
        at = to_micros(seen_at, "remember_message", "seen_at")
        with self._scope("remember_message", atomic=False):
            return self._conn.execute(_REMEMBER, (message_id, at)).rowcount == 1

    def forget_message(self, message_id: str) -> bool:
        with self._scope("forget_message", atomic=False):
            return self._conn.execute(_FORGET_ONE, (message_id,)).rowcount > 0

    def forget_messages_before(self, before: datetime) -> int:
        at = to_micros(before, "forget_messages_before", "before")
        with self._scope("forget_messages_before", atomic=False):
            return self._conn.execute(_FORGET, (at,)).rowcount
