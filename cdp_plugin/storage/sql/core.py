"""The connection surface the shared SQL concerns rely on, and the dialect hooks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol

from cdp_plugin.storage.base import SingleConnectionStore


class SQLCursor(Protocol):
    """The part of a DB-API cursor the shared concerns read."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


class SQLConnection(Protocol):
    """The part of a DB-API connection the shared concerns call."""

    def execute(self, query: str, params: Any = ..., /) -> SQLCursor: ...

    def close(self) -> None: ...


PROFILE_READS = "profile"
CONSENT_READS = "consent"
LINK_WRITES = "link"
MESSAGE_CLAIMS = "message"
QUARANTINE_COUNTS = "quarantine"
"""The concerns whose rows a store knows for the open transaction (read ahead by
``prefetch_*``, or written by it), as the first part of a
:attr:`~cdp_plugin.storage.base.SingleConnectionStore._read_ahead` key; and
those whose writes it holds back until the transaction commits
(:meth:`SQLCore._hold_write`)."""

READ_AHEAD_CHUNK = 500
"""At most this many keys per read-ahead statement (SQLite binds one parameter each)."""


def chunked(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    """``keys`` in slices of at most :data:`READ_AHEAD_CHUNK`."""
    for start in range(0, len(keys), READ_AHEAD_CHUNK):
        yield keys[start:start + READ_AHEAD_CHUNK]


class SQLCore(SingleConnectionStore):
    """A store over one SQL connection. A backend sets ``_conn`` and supplies the
    dialect's time conversions; the concern mixins hold the statements' logic."""

    page_size: int
    _conn: SQLConnection
    _GET_META: ClassVar[str]
    _SET_META: ClassVar[str]

    def _close_connection(self) -> None:
        self._conn.close()

    def _forget_reads(self, concern: str) -> None:
        """Before a statement that reads or changes rows of ``concern`` it does not
        name one by one: send the writes of ``concern`` held back, and drop every row
        of it read ahead."""
        self._write_held(concern)
        for entry in [entry for entry in self._read_ahead if entry[0] == concern]:
            del self._read_ahead[entry]

    def _hold_write(self, concern: str, key: Any, statement: str, row: tuple[Any, ...]) -> None:
        """Inside a transaction: run ``statement`` with ``row`` only when the
        transaction commits, together with every other row of ``concern`` held, in
        one :meth:`_execute_many`. A later write of the same ``key`` replaces this
        one, so ``statement`` must be an upsert whose last row per key is the result.
        The caller keeps reads of ``key`` right meanwhile (its ``_read_ahead`` entry)
        and calls :meth:`_forget_reads` before any statement over the whole concern."""
        held = self._held.get(concern)
        if held is None:
            held = self._held[concern] = (statement, {})
        held[1][key] = row

    def _drop_held(self, concern: str, key: Any) -> bool:
        """Forget the held write of ``key`` (a statement about to run replaces it);
        whether there was one."""
        held = self._held.get(concern)
        return held is not None and held[1].pop(key, None) is not None

    def _write_held(self, concern: str | None = None) -> None:
        """Send the held writes, of ``concern`` only if named, one statement each."""
        for name in list(self._held) if concern is None else [concern]:
            statement, rows = self._held.pop(name, ("", {}))
            if rows:
                self._execute_many(statement, list(rows.values()))

    def _before_commit(self) -> None:
        self._write_held()

    def _execute_many(self, statement: str, rows: Sequence[tuple[Any, ...]]) -> int:
        """Run ``statement`` once per row, in one call to the driver; return the rows
        it changed in all."""
        raise NotImplementedError

    def _for_keys(self, statement: str, keys: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        """A ``*_MANY`` statement and its parameters for ``keys``: SQLite's name the
        keys as ``IN (KEYS)``, expanded to one placeholder each; PostgreSQL's as
        ``= ANY(%s)``, bound to one array."""
        raise NotImplementedError

    def get_meta(self, name: str) -> str | None:
        with self._scope("get_meta", atomic=False):
            row = self._conn.execute(self._GET_META, (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        with self._scope("set_meta", atomic=False):
            self._conn.execute(self._SET_META, (name, value))

    def _upgrade_schema(self, found: str) -> None:
        """Bring tables of schema version ``found`` (in ``UPGRADABLE_VERSIONS``) up
        to date, inside the transaction that opens the store; the concern that
        changed its tables overrides this."""
        raise NotImplementedError(f"no upgrade from schema version {found!r}")

    def _to_db_time(self, value: datetime, operation: str, argument: str) -> Any:
        """``value`` as the column stores it; StorageError naming ``argument`` if naive."""
        raise NotImplementedError

    def _from_db_time(self, value: Any) -> datetime:
        """The UTC datetime of a stored time column value."""
        raise NotImplementedError

    def _from_db_json(self, value: Any, operation: str) -> Any:
        """The value of a stored JSON column; StorageError naming ``operation`` if corrupt."""
        raise NotImplementedError
