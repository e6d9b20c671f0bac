"""PostgreSQL store: message dedup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.sql.messages import SQLMessages


class PostgresMessages(SQLMessages, PostgresCore):
    """The message dedup of a PostgreSQL store."""

    _REMEMBER = (
        "INSERT INTO seen_messages (message_id, seen_at) VALUES (%s, %s) "
        "ON CONFLICT (message_id) DO NOTHING"
    )
    _FORGET = "DELETE FROM seen_messages WHERE seen_at < %s"
    _FORGET_ONE = "DELETE FROM seen_messages WHERE message_id = %s"

    def _remembering(self, message_ids: Sequence[str], at: Any) -> tuple[str, tuple[Any, ...]]:
        return ("INSERT INTO seen_messages (message_id, seen_at) "
                "SELECT key, %s FROM unnest(%s::text[]) AS key "
                "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
                (at, list(message_ids)))
