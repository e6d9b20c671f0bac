"""PostgreSQL store: recorded sends."""

from __future__ import annotations

from datetime import datetime

from cdp_plugin.storage.base import as_utc
from cdp_plugin.storage.postgres.convert import utc
from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.sql.sends import SQLSends


class PostgresSends(SQLSends, PostgresCore):
    """The recorded sends of a PostgreSQL store."""

    _RECORD_SEND = (
        "INSERT INTO sends (subject_key, channel, topic, sent_at) VALUES (%s, %s, %s, %s)"
    )
    # Held until the transaction ends, so two connections cannot both count the
    # same sends of one subject and channel and then both send (a no-op outside one).
    _LOCK_SENDS = (
        "SELECT pg_advisory_xact_lock(hashtext('cdp_plugin.storage.sends'), hashtext(%s))"
    )
    _SENDS_SINCE = (
        "SELECT sent_at FROM sends WHERE subject_key = %s AND channel = %s AND sent_at > %s "
        "ORDER BY sent_at"
    )
    _DELETE_SENDS = "DELETE FROM sends WHERE subject_key = %s"

    def sends_since(self, subject_key: str, channel: str, since: datetime) -> list[datetime]:
        after = as_utc(since, "sends_since", "since")
        with self._scope("sends_since", atomic=False):
            self._conn.execute(self._LOCK_SENDS, (f"{subject_key}/{channel}",))
            rows = self._conn.execute(self._SENDS_SINCE, (subject_key, channel, after)).fetchall()
        return [utc(sent) for (sent,) in rows]
