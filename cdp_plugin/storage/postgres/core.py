"""PostgreSQL store: the connection, schema creation and transaction control."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from cdp_plugin import json_read
from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import SCHEMA_VERSION, UPGRADABLE_VERSIONS, as_utc
from cdp_plugin.storage.postgres.convert import utc
from cdp_plugin.storage.postgres.schema import CREATE_META, GET_META, SCHEMA, SCHEMA_LOCK, SET_META
from cdp_plugin.storage.sql.core import SQLCore

_CONNECT_TIMEOUT_S = 10

# The tables whose rows hold a subject's data; VACUUM makes their dead rows' space reusable.
_SCRUB_TABLES = ("quarantine", "profiles", "preferences", "sends", "subject_keys", "identity_links",
                 "optin_requests")


class PostgresCore(SQLCore):
    """The connection of a :class:`PostgresStore`: opening it, the schema, transaction
    control, settings and scrubbing deleted rows."""

    page_size: int = 500
    """Profiles fetched per page by :meth:`iter_profiles`."""

    _GET_META = GET_META
    _SET_META = SET_META
    _driver_errors = (psycopg.Error,)
    _conn: psycopg.Connection[tuple[Any, ...]]

    def _to_db_time(self, value: datetime, operation: str, argument: str) -> datetime:
        return as_utc(value, operation, argument)

    def _from_db_time(self, value: datetime) -> datetime:
        return utc(value)

    def _for_keys(self, statement: str, keys: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        return statement, (list(keys),)

    def _execute_many(self, statement: str, rows: Sequence[tuple[Any, ...]]) -> int:
        with self._conn.cursor() as cursor:
            cursor.executemany(statement, rows)  # rowcount sums the rows (psycopg >= 3.1)
            return max(int(cursor.rowcount), 0)

    def _from_db_json(self, value: Any, operation: str) -> Any:
        # psycopg decodes jsonb columns itself.
        return value

    def __init__(self, dsn: str, schema: str | None = None) -> None:
        super().__init__()
        self.schema = schema
        self._dsn = dsn
        self._conn = self._connect("cannot connect to PostgreSQL")
        try:
            self._create_schema()
        except BaseException as exc:
            self._conn.close()
            if isinstance(exc, psycopg.Error):
                raise StorageError(
                    f"cannot open the PostgreSQL store: {self._describe(exc)}"
                ) from None
            raise

    def _connect(self, failure: str) -> psycopg.Connection[tuple[Any, ...]]:
        """A new session in UTC (the DSN is never quoted: it may hold a password)."""
        options: dict[str, Any] = {}
        if "connect_timeout" not in self._dsn:
            options["connect_timeout"] = _CONNECT_TIMEOUT_S
        try:
            conn = psycopg.connect(self._dsn, autocommit=True, **options)
        except psycopg.Error as exc:
            raise StorageError(f"{failure}: {type(exc).__name__}") from None
        # jsonb columns read as the standard library would, several times faster.
        set_json_loads(json_read.loads, conn)
        try:
            conn.execute("SET TIME ZONE 'UTC'")
        except psycopg.Error as exc:
            conn.close()
            raise StorageError(f"{failure}: {self._describe(exc)}") from None
        return conn

    def _reconnect_if_lost(self, operation: str) -> None:
        """A connection the server dropped (restart, failover, idle timeout) is
        reopened before the next operation outside a transaction; one lost inside
        a transaction fails that transaction, which the caller replays whole."""
        if not self._conn.closed:
            return
        conn = self._connect(f"{operation} failed: the connection to PostgreSQL was lost "
                             "and reconnecting failed")
        if self.schema is not None:
            try:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            except psycopg.Error as exc:
                conn.close()
                raise StorageError(f"{operation} failed: {self._describe(exc)}") from None
        self._conn = conn

    def _create_schema(self) -> None:
        with self._scope("open", atomic=True):
            self._conn.execute(SCHEMA_LOCK)
            if self.schema is not None:
                name = sql.Identifier(self.schema)
                self._conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
                # A plain SET outlives this transaction once it commits.
                self._conn.execute(sql.SQL("SET search_path TO {}").format(name))
            self._conn.execute(CREATE_META)
            row = self._conn.execute(GET_META, ("schema_version",)).fetchone()
            found = SCHEMA_VERSION if row is None else row[0]
            if found != SCHEMA_VERSION and found not in UPGRADABLE_VERSIONS:
                raise StorageError(
                    f"PostgreSQL store has schema version {found!r}, expected {SCHEMA_VERSION!r}"
                )
            for statement in SCHEMA:
                self._conn.execute(statement)
            if found != SCHEMA_VERSION:
                self._upgrade_schema(found)
            if row is None or found != SCHEMA_VERSION:
                self._conn.execute(SET_META, ("schema_version", SCHEMA_VERSION))

    def _control(self, statement: str) -> None:
        self._conn.execute(statement)

    def _describe(self, exc: BaseException) -> str:
        # The message may quote row values (a DETAIL line); the SQLSTATE does not.
        state = getattr(exc, "sqlstate", None)
        described = f"{type(exc).__name__} (SQLSTATE {state})" if state else type(exc).__name__
        conn = getattr(self, "_conn", None)
        if conn is not None and conn.closed:
            described = (f"the connection to PostgreSQL was lost ({described}); the operation "
                         "did not complete (one lost during COMMIT may have committed), and "
                         "the store reconnects on its next operation")
        return described

    def scrub_deleted(self) -> bool:
        op = "scrub_deleted"
        with self._lock:
            if self._depth:
                raise StorageError(f"{op} failed: it cannot run inside a transaction")
            with self._scope(op, atomic=False):
                for table in _SCRUB_TABLES:
                    self._conn.execute(sql.SQL("VACUUM {}").format(sql.Identifier(table)))
        # VACUUM frees dead rows for reuse but does not overwrite them, and
        # the server's write-ahead log keeps them until it is recycled.
        return False
