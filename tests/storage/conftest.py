"""Fixtures that run one contract suite against every storage backend.

The PostgreSQL backend needs a server: its DSN comes from
``CDP_PLUGIN_TEST_POSTGRES_DSN``. Without it (or without a reachable server)
those tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import psycopg
import pytest
from psycopg import sql

from cdp_plugin.storage import Store
from cdp_plugin.storage.postgres import PostgresStore
from cdp_plugin.storage.sqlite import SQLiteStore

DSN_VARIABLE = "CDP_PLUGIN_TEST_POSTGRES_DSN"

StoreFactory = Callable[[], Store]


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail under CI, where a silently skipped backend would hide breakage."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)", pytrace=False)
    pytest.skip(reason)


class PostgresTarget(NamedTuple):
    dsn: str
    schema: str
    admin: psycopg.Connection[tuple[Any, ...]]


@pytest.fixture(scope="session")
def postgres_target() -> Iterator[PostgresTarget]:
    """A DSN and a schema of this test run's own, dropped at the end of the session."""
    dsn = os.environ.get(DSN_VARIABLE, "")
    if not dsn:
        _unavailable(f"{DSN_VARIABLE} is not set: set it to a PostgreSQL DSN to run these tests")
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _unavailable(f"PostgreSQL at {DSN_VARIABLE} is unreachable: {type(exc).__name__}")
    schema = f"cdp_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield PostgresTarget(dsn, schema, admin)
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


# Tables that other tables reference come last, so plain DELETEs respect the
# foreign keys; DELETE on a few rows is much faster than TRUNCATE.
_TABLES_CHILDREN_FIRST = """
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %s AND c.relkind = 'r'
    ORDER BY (SELECT count(*) FROM pg_constraint f WHERE f.confrelid = c.oid), c.relname
"""


def _empty_tables(target: PostgresTarget) -> None:
    with target.admin.transaction():
        tables = target.admin.execute(_TABLES_CHILDREN_FIRST, (target.schema,)).fetchall()
        for (name,) in tables:
            target.admin.execute(
                sql.SQL("DELETE FROM {}").format(sql.Identifier(target.schema, name))
            )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores on one backend's storage; every call reaches the same data.

    Each test starts from empty tables; every store opened is closed afterwards.
    """
    opened: list[Store] = []
    target: Callable[[], Store]
    postgres: PostgresTarget | None = None
    if request.param == "sqlite":
        path = tmp_path / "state" / "store.sqlite3"

        def target() -> Store:
            return SQLiteStore(path)
    else:
        postgres = request.getfixturevalue("postgres_target")

        def target() -> Store:
            assert postgres is not None
            return PostgresStore(postgres.dsn, schema=postgres.schema)

    def factory() -> Store:
        opened.append(target())
        return opened[-1]

    try:
        yield factory
    finally:
        for each in opened:
            each.close()
        if postgres is not None:
            _empty_tables(postgres)


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    """A freshly opened, empty store on each backend."""
    return store_factory()
