"""The ``postgres`` delivery target: forwarded events as rows of a table you name.

The table is created if missing::

    message_key text PRIMARY KEY   -- the event's idempotency key
    payload jsonb NOT NULL         -- what the destination receives
    delivered_at timestamptz NOT NULL DEFAULT now()

One request is one transaction; a key already present is skipped
(``ON CONFLICT DO NOTHING``), so a redelivery adds nothing. The DSN is never
quoted in an error or a log line: it may hold a password.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from cdp_plugin.delivery.targets import QueuedEvent, SendResult
from cdp_plugin.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def table_identifier(name: object, where: str) -> sql.Identifier:
    """``name`` (``table`` or ``schema.table``, plain SQL names) as an identifier;
    ConfigError naming ``where`` otherwise."""
    parts = name.split(".") if isinstance(name, str) else []
    if not 1 <= len(parts) <= 2 or not all(_NAME.fullmatch(part) for part in parts):
        raise ConfigError(f"{where}: a table name (letters, digits, underscores; "
                          "optionally schema.table)")
    return sql.Identifier(*parts)


class PostgresTarget:
    """Inserts each request's events into one table, in one transaction."""

    max_events = 1000
    max_bytes = 8 * 1024 * 1024

    def __init__(self, dsn: str, table: sql.Identifier, *, timeout: float = 10.0) -> None:
        self._dsn = dsn
        self._table = table
        self._timeout = timeout
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def send(self, events: Sequence[QueuedEvent]) -> SendResult:
        rows = [(event.key, json.dumps(dict(event.payload), ensure_ascii=False))
                for event in events]
        insert = sql.SQL("INSERT INTO {} (message_key, payload) VALUES (%s, %s::jsonb) "
                         "ON CONFLICT (message_key) DO NOTHING").format(self._table)
        try:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(insert, rows)
        except psycopg.Error as exc:
            self.close()  # a broken connection is opened again on the next request
            permanent = isinstance(exc, psycopg.errors.DataError)
            return SendResult(False, type(exc).__name__, permanent=permanent)
        return SendResult(True)

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self._dsn, autocommit=True,
                                   connect_timeout=max(1, int(self._timeout)))
            conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (message_key text PRIMARY KEY, "
                "payload jsonb NOT NULL, delivered_at timestamptz NOT NULL DEFAULT now())"
            ).format(self._table))
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
