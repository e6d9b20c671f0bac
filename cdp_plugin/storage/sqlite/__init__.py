"""The default store: one SQLite file in WAL mode.

Datetimes are stored as integer microseconds since the Unix epoch (UTC), so
they compare and index as numbers and round-trip exactly; mappings as JSON
text. Every statement is a constant string, so the connection's statement
cache prepares each one once.
"""

from __future__ import annotations

from cdp_plugin.storage.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
