"""PostgreSQL store: identity links."""

from __future__ import annotations

from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.sql.links import SQLLinks


class PostgresLinks(SQLLinks, PostgresCore):
    """The identity links of a PostgreSQL store."""

    _LINK = ("INSERT INTO identity_links (subject_key, linked_key, linked_at) "
             "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING")
    _LINKED = ("SELECT linked_key FROM identity_links WHERE subject_key = %s "
               "UNION SELECT subject_key FROM identity_links WHERE linked_key = %s")
    _DELETE_LINKS = "DELETE FROM identity_links WHERE subject_key = %s OR linked_key = %s"
