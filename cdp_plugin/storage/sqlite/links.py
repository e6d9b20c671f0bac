"""SQLite store: identity links."""

from __future__ import annotations

from cdp_plugin.storage.sql.links import SQLLinks
from cdp_plugin.storage.sqlite.core import SQLiteCore


class SQLiteLinks(SQLLinks, SQLiteCore):
    """The identity links of a SQLite store."""

    _LINK = ("INSERT INTO identity_links (subject_key, linked_key, linked_at) VALUES (?, ?, ?) "
             "ON CONFLICT DO NOTHING")
    _LINKED = ("SELECT linked_key FROM identity_links WHERE subject_key = ? "
               "UNION SELECT subject_key FROM identity_links WHERE linked_key = ?")
    _DELETE_LINKS = "DELETE FROM identity_links WHERE subject_key = ? OR linked_key = ?"
