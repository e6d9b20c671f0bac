"""PostgreSQL store: message dedup."""

from __future__ import annotations

from datetime import datetime

from cdp_plugin.storage.base import as_utc
from cdp_plugin.storage.postgres.core import PostgresCore

_REMEMBER = (
    "INSERT INTO seen_messages (message_id, seen_at) VALUES (%s, %s) "
    "ON CONFLICT (message_id) DO NOTHING"
)
_FORGET = "DELETE FROM seen_messages WHERE seen_at < %s"
_FORGET_ONE = "DELETE FROM seen_messages WHERE message_id = %s"


class PostgresMessages(PostgresCore):
    """The message dedup of a PostgreSQL store."""

    def remember_message(self, message_id: str, seen_at: datetime) -> bool:
        at = as_utc(seen_at, "remember_message", "seen_at")
        with self._scope("remember_message", atomic=False):
            return self._conn.execute(_REMEMBER, (message_id, at)).rowcount == 1

    def forget_message(self, message_id: str) -> bool:
        with self._scope("forget_message", atomic=False):
            return self._conn.execute(_FORGET_ONE, (message_id,)).rowcount > 0

    def forget_messages_before(self, before: datetime) -> int:
        at = as_utc(before, "forget_messages_before", "before")
        with self._scope("forget_messages_before", atomic=False):
            return self._conn.execute(_FORGET, (at,)).rowcount
