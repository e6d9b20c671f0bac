"""Durable state: consent ledger, profiles, quarantine, subject keys, message dedup.

:func:`open_store` picks the backend from a target string; SQLite is the
default, PostgreSQL is used for ``postgresql://`` DSNs.
"""

from __future__ import annotations

from cdp_plugin.errors import ConfigError
from cdp_plugin.storage.base import ConsentRecord, CurrentConsent, QuarantinedEvent, Store
from cdp_plugin.storage.sqlite import SQLiteStore

__all__ = ["ConsentRecord", "CurrentConsent", "QuarantinedEvent", "Store", "open_store"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite://"


def open_store(target: str, *, schema: str | None = None) -> Store:
    """Open the store named by ``target``.

    ``postgresql://...`` or ``postgres://...`` opens a PostgreSQL store (in
    ``schema`` if given); ``sqlite:///abs/path`` or a plain file path opens a
    SQLite store. Raises ConfigError for any other target, or for ``schema``
    with SQLite; StorageError if the store cannot be opened.
    """
    if target.startswith(_POSTGRES_SCHEMES):
        # Imported here so SQLite users never load the PostgreSQL driver.
        from cdp_plugin.storage.postgres import PostgresStore

        return PostgresStore(target, schema=schema)
    if schema is not None:
        raise ConfigError("store: schema applies only to a PostgreSQL store")
    if target.startswith(_SQLITE_SCHEME):
        path = target[len(_SQLITE_SCHEME) :]
        if not path.startswith("/") or path == "/":
            raise ConfigError("store: a sqlite target must be sqlite:///absolute/path")
    elif "://" in target:
        # The target is not echoed: a mistyped DSN may hold a password.
        raise ConfigError("store: unsupported scheme; use postgresql://, sqlite:/// or a file path")
    elif not target.strip():
        raise ConfigError("store: empty target; use postgresql://, sqlite:/// or a file path")
    else:
        path = target
    return SQLiteStore(path)
