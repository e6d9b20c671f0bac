"""SQLite store: message dedup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cdp_plugin.storage.sql.messages import SQLMessages
from cdp_plugin.storage.sqlite.core import SQLiteCore


class SQLiteMessages(SQLMessages, SQLiteCore):
    """The message dedup of a SQLite store."""

    _REMEMBER = (
        "INSERT INTO seen_messages (message_id, seen_at) VALUES (?, ?) "
        "ON CONFLICT (message_id) DO NOTHING"
    )
    _FORGET = "DELETE FROM seen_messages WHERE seen_at < ?"
    _FORGET_ONE = "DELETE FROM seen_messages WHERE message_id = ?"

    def _remembering(self, message_ids: Sequence[str], at: Any) -> tuple[str, tuple[Any, ...]]:
        rows = ", ".join("(?, ?)" for _ in message_ids)
        return (f"INSERT INTO seen_messages (message_id, seen_at) VALUES {rows} "
                "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
                tuple(value for key in message_ids for value in (key, at)))
