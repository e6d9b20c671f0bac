"""A store in PostgreSQL, through psycopg 3.

Same tables and semantics as the SQLite store, in native types: ``timestamptz``
for datetimes, ``jsonb`` for mappings, ``bytea`` for keys. The connection runs
in autocommit mode with explicit ``BEGIN``/``COMMIT`` so a single statement
costs one round trip; psycopg prepares statements that repeat.
"""

from __future__ import annotations

from cdp_plugin.storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
