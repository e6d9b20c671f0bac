"""SQL store: message dedup, shared by the SQL backends."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from cdp_plugin.storage.sql.core import MESSAGE_CLAIMS, SQLCore, chunked


class SQLMessages(SQLCore):
    """The message dedup of a SQL store; a backend sets the statements."""

    _REMEMBER: ClassVar[str]
    _FORGET: ClassVar[str]
    _FORGET_ONE: ClassVar[str]

    def remember_message(self, message_id: str, seen_at: datetime) -> bool:
        at = self._to_db_time(seen_at, "remember_message", "seen_at")
        with self._scope("remember_message", atomic=False):
            # Remembered ahead: the first remember in the transaction takes the answer,
            # a later one inserts and finds the row.
            ahead = self._read_ahead.pop((MESSAGE_CLAIMS, message_id), None)
            if ahead is not None:
                return bool(ahead)
            return self._conn.execute(self._REMEMBER, (message_id, at)).rowcount == 1

    def remember_messages_ahead(self, message_ids: Iterable[str], seen_at: datetime) -> None:
        op = "remember_messages_ahead"
        at = self._to_db_time(seen_at, op, "seen_at")
        wanted = sorted({key for key in message_ids
                         if (MESSAGE_CLAIMS, key) not in self._read_ahead})
        if not self._in_transaction() or not wanted:
            return
        with self._scope(op, atomic=False):
            for chunk in chunked(wanted):
                statement, parameters = self._remembering(chunk, at)
                new = {row[0] for row in self._conn.execute(statement, parameters).fetchall()}
                for key in chunk:
                    self._read_ahead[MESSAGE_CLAIMS, key] = key in new

    def _remembering(self, message_ids: Sequence[str], at: Any) -> tuple[str, tuple[Any, ...]]:
        """One statement inserting ``message_ids`` seen at ``at``, new ones only,
        returning the ids it inserted (the dialect's)."""
        raise NotImplementedError

    def forget_message(self, message_id: str) -> bool:
        with self._scope("forget_message", atomic=False):
            self._read_ahead.pop((MESSAGE_CLAIMS, message_id), None)
            return self._conn.execute(self._FORGET_ONE, (message_id,)).rowcount > 0

    def forget_messages_before(self, before: datetime) -> int:
        at = self._to_db_time(before, "forget_messages_before", "before")
        with self._scope("forget_messages_before", atomic=False):
            # Rows remembered ahead as new were inserted now; those found seen before
            # may be among the deleted: ask the table again.
            for entry in [entry for entry, new in self._read_ahead.items()
                          if entry[0] == MESSAGE_CLAIMS and not new]:
                del self._read_ahead[entry]
            return self._conn.execute(self._FORGET, (at,)).rowcount
