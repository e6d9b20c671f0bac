"""SQL store: identity links, shared by the SQL backends."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from cdp_plugin.storage.sql.core import LINK_WRITES, SQLCore


class SQLLinks(SQLCore):
    """The identity links of a SQL store; a backend sets the statements."""

    _LINK: ClassVar[str]
    _LINKED: ClassVar[str]
    _DELETE_LINKS: ClassVar[str]

    def link_identities(self, subject_key: str, linked_key: str, linked_at: datetime) -> None:
        op = "link_identities"
        at = self._to_db_time(linked_at, op, "linked_at")
        if subject_key == linked_key:
            return
        written = (LINK_WRITES, f"{subject_key}\x00{linked_key}")
        with self._scope(op, atomic=False):
            if written in self._read_ahead:
                return  # linked earlier in this transaction: the insert would do nothing
            self._conn.execute(self._LINK, (subject_key, linked_key, at))
            if self._in_transaction():
                self._read_ahead[written] = True

    def linked_identities(self, subject_key: str) -> list[str]:
        with self._scope("linked_identities", atomic=False):
            rows = self._conn.execute(self._LINKED, (subject_key, subject_key)).fetchall()
        return sorted({row[0] for row in rows})

    def delete_links(self, subject_key: str) -> int:
        with self._scope("delete_links", atomic=False):
            self._forget_reads(LINK_WRITES)
            cursor = self._conn.execute(self._DELETE_LINKS, (subject_key, subject_key))
            return int(cursor.rowcount)
