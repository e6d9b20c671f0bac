"""What an operator reads when the store cannot be written or its server goes away."""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.postgres.store import PostgresStore
from cdp_plugin.storage.sqlite.store import SQLiteStore
from tests.storage.conftest import PostgresTarget, _empty_tables

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def _read_only(monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
    """Make opening ``target`` for writing fail as on a read-only mount
    (permission bits do not stop root, so the refusal is injected at os.open)."""
    real_open = os.open

    def refusing(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path) == str(target) and flags & (os.O_RDWR | os.O_WRONLY):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)


@pytest.mark.parametrize("existing", [False, True])
def test_a_read_only_store_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   existing: bool) -> None:
    path = tmp_path / "data" / "cdp.sqlite3"
    if existing:
        SQLiteStore(path).close()
    _read_only(monkeypatch, path)
    with pytest.raises(StorageError) as caught:
        SQLiteStore(path)
    message = str(caught.value)
    verb = "open" if existing else "create"
    assert message.startswith(f"cannot {verb} SQLite store {path}: the file system is read-only")
    assert "EROFS" in message and "write access" in message


def _terminate(target: PostgresTarget, store: PostgresStore) -> None:
    pid = store._conn.execute("SELECT pg_backend_pid()").fetchone()
    assert pid is not None
    with psycopg.connect(target.dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid[0],))


@pytest.mark.postgres
def test_a_lost_postgres_connection_is_named_and_the_next_operation_reconnects(
        postgres_target: PostgresTarget) -> None:
    store = PostgresStore(postgres_target.dsn, schema=postgres_target.schema)
    try:
        store.put_preferences("sk_before", {"residency": "DE"}, T0)
        _terminate(postgres_target, store)
        with pytest.raises(StorageError) as caught:
            store.put_preferences("sk_lost", {"residency": "FR"}, T0)
        assert "connection to PostgreSQL was lost" in str(caught.value)
        assert "SQLSTATE 57P01" in str(caught.value)
        # The next operation runs on a new session, in the store's own schema.
        store.put_preferences("sk_after", {"residency": "IT"}, T0)
        assert store.get_preferences("sk_before") == {"residency": "DE"}
        assert store.get_preferences("sk_lost") is None
        assert store.get_preferences("sk_after") == {"residency": "IT"}
    finally:
        store.close()
        _empty_tables(postgres_target)


@pytest.mark.postgres
def test_a_connection_lost_inside_a_transaction_fails_it_whole(
        postgres_target: PostgresTarget) -> None:
    store = PostgresStore(postgres_target.dsn, schema=postgres_target.schema)
    try:
        with pytest.raises(StorageError) as caught, store.transaction():
            store.put_preferences("sk_first", {"residency": "DE"}, T0)
            _terminate(postgres_target, store)
            store.put_preferences("sk_second", {"residency": "FR"}, T0)
        assert "connection to PostgreSQL was lost" in str(caught.value)
        assert store.get_preferences("sk_first") is None
        assert store.get_preferences("sk_second") is None
    finally:
        store.close()
        _empty_tables(postgres_target)
