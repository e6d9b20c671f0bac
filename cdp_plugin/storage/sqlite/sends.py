"""SQLite store: recorded sends."""

from __future__ import annotations

from datetime import datetime

from cdp_plugin.storage.sql.sends import SQLSends
from cdp_plugin.storage.sqlite.convert import from_micros, to_micros
from cdp_plugin.storage.sqlite.core import SQLiteCore


class SQLiteSends(SQLSends, SQLiteCore):
    """The recorded sends of a SQLite store."""

    _RECORD_SEND = "INSERT INTO sends (subject_key, channel, topic, sent_at) VALUES (?, ?, ?, ?)"
    _SENDS_SINCE = (
        "SELECT sent_at FROM sends WHERE subject_key = ? AND channel = ? AND sent_at > ? "
        "ORDER BY sent_at"
    )
    _DELETE_SENDS = "DELETE FROM sends WHERE subject_key = ?"

    def sends_since(self, subject_key: str, channel: str, since: datetime) -> list[datetime]:
        # A transaction here holds the database's write lock from BEGIN
        # IMMEDIATE on, which already serializes check-and-record.
        after = to_micros(since, "sends_since", "since")
        with self._scope("sends_since", atomic=False):
            rows = self._conn.execute(self._SENDS_SINCE, (subject_key, channel, after)).fetchall()
        return [from_micros(sent) for (sent,) in rows]
