"""SQLite store: the connection, schema creation and transaction control."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import SCHEMA_VERSION, UPGRADABLE_VERSIONS, load_json, os_reason
from cdp_plugin.storage.sql.core import SQLCore
from cdp_plugin.storage.sqlite.convert import from_micros, to_micros
from cdp_plugin.storage.sqlite.schema import CREATE_META, GET_META, SCHEMA, SET_META

_BUSY_TIMEOUT_MS = 5000


class SQLiteCore(SQLCore):
    """The connection of a :class:`SQLiteStore`: opening it, the schema, transaction
    control, settings and scrubbing deleted rows."""

    page_size: int = 500
    """Profiles fetched per page by :meth:`iter_profiles`."""

    _GET_META = GET_META
    _SET_META = SET_META
    _driver_errors = (sqlite3.Error,)
    _conn: sqlite3.Connection

    def _to_db_time(self, value: datetime, operation: str, argument: str) -> int:
        return to_micros(value, operation, argument)

    def _from_db_time(self, value: int) -> datetime:
        return from_micros(value)

    def _execute_many(self, statement: str, rows: Sequence[tuple[Any, ...]]) -> int:
        return int(self._conn.executemany(statement, rows).rowcount)

    def _for_keys(self, statement: str, keys: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        # One statement text whatever the number of keys, bound to a JSON array: a
        # text per count would be prepared and cached anew for each batch size.
        return (statement.replace("KEYS", "SELECT value FROM json_each(?)"),
                (json.dumps(list(keys), ensure_ascii=False),))

    def _from_db_json(self, value: str, operation: str) -> Any:
        return load_json(value, operation)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = os.fspath(path)
        existed = self.path != ":memory:" and Path(self.path).exists()
        try:
            if self.path != ":memory:":
                # The file holds subject state and wrapped keys: readable by
                # the owner only. SQLite gives its -wal and -shm files the
                # same mode.
                Path(self.path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        except OSError as exc:
            verb = "open" if existed else "create"
            raise StorageError(
                f"cannot {verb} SQLite store {self.path}: {os_reason(exc)}; the store needs "
                "write access to its file and its directory"
            ) from None
        try:
            # Transactions are explicit (BEGIN IMMEDIATE), hence isolation_level=None.
            self._conn = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                check_same_thread=False, cached_statements=64,
            )
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot open SQLite store {self.path}: {self._describe(exc)}"
            ) from None
        try:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._create_schema()
        except BaseException as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(
                    f"cannot open SQLite store {self.path}: {self._describe(exc)}"
                ) from None
            raise

    def _create_schema(self) -> None:
        with self._scope("open", atomic=True):
            self._conn.execute(CREATE_META)
            row = self._conn.execute(GET_META, ("schema_version",)).fetchone()
            found = SCHEMA_VERSION if row is None else row[0]
            if found != SCHEMA_VERSION and found not in UPGRADABLE_VERSIONS:
                raise StorageError(
                    f"SQLite store {self.path} has schema version {found!r}, "
                    f"expected {SCHEMA_VERSION!r}"
                )
            for statement in SCHEMA:
                self._conn.execute(statement)
            if found != SCHEMA_VERSION:
                self._upgrade_schema(found)
            if row is None or found != SCHEMA_VERSION:
                self._conn.execute(SET_META, ("schema_version", SCHEMA_VERSION))

    def _control(self, statement: str) -> None:
        # IMMEDIATE takes the write lock up front, so a transaction never fails
        # half-way on a lock upgrade; the busy timeout covers the wait.
        self._conn.execute("BEGIN IMMEDIATE" if statement == "BEGIN" else statement)

    def _describe(self, exc: BaseException) -> str:
        code = getattr(exc, "sqlite_errorname", None)
        described = f"{type(exc).__name__} ({code})" if code else type(exc).__name__
        if isinstance(code, str) and code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
            described += (f": {self.path} or its directory cannot be written (the write-ahead"
                          " log lives beside the file); check the file system and permissions")
        return described

    def scrub_deleted(self) -> bool:
        op = "scrub_deleted"
        with self._lock:
            if self._depth:
                raise StorageError(f"{op} failed: it cannot run inside a transaction")
            with self._scope(op, atomic=False):
                # VACUUM rewrites the file from live rows only, so no free page
                # or slack space keeps a deleted row; truncating the write-ahead
                # log drops the older page images it holds.
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.execute("VACUUM")
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return busy == 0 or self.path == ":memory:"
