"""SQLite store: recorded sends."""

from __future__ import annotations

from datetime import datetime

from cdp_plugin.storage.sqlite.convert import from_micros, to_micros
from cdp_plugin.storage.sqlite.core import SQLiteCore

_RECORD_SEND = "INSERT INTO sends (subject_key, channel, topic, sent_at) VALUES (?, ?, ?, ?)"
_SENDS_SINCE = (
    "SELECT sent_at FROM sends WHERE subject_key = ? AND channel = ? AND sent_at > ? "
    "ORDER BY sent_at"
)
_DELETE_SENDS = "DELETE FROM sends WHERE subject_key = ?"


class SQLiteSends(SQLiteCore):
    """The recorded sends of a SQLite store."""

    def record_send(
        self, subject_key: str, channel: str, topic: str | None, sent_at: datetime
    ) -> None:
        at = to_micros(sent_at, "record_send", "sent_at")
        with self._scope("record_send", atomic=False):
            self._conn.execute(_RECORD_SEND, (subject_key, channel, topic, at))

    def sends_since(self, subject_key: str, channel: str, since: datetime) -> list[datetime]:
        # A transaction here holds the database's write lock from BEGIN
        # IMMEDIATE on, which already serializes check-and-record.
        after = to_micros(since, "sends_since", "since")
        with self._scope("sends_since", atomic=False):
            rows = self._conn.execute(_SENDS_SINCE, (subject_key, channel, after)).fetchall()
        return [from_micros(sent) for (sent,) in rows]

    def delete_sends(self, subject_key: str) -> int:
        with self._scope("delete_sends", atomic=False):
            return self._conn.execute(_DELETE_SENDS, (subject_key,)).rowcount
