"""SQLite store: message dedup."""

from __future__ import annotations

import json
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
        # "WHERE true" tells SQLite's parser the ON CONFLICT belongs to the INSERT.
        return ("INSERT INTO seen_messages (message_id, seen_at) "
                "SELECT value, ? FROM json_each(?) WHERE true "
                "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
                (at, json.dumps(list(message_ids), ensure_ascii=False)))
