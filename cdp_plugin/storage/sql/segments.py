"""SQL store: segment tallies, sizes and daily churn, shared by the SQL backends."""

from __future__ import annotations

from typing import ClassVar

from cdp_plugin.storage.base import Tally
from cdp_plugin.storage.sql.core import SQLCore


class SQLSegments(SQLCore):
    """The segment tallies of a SQL store; a backend sets the statements and the writes
    whose results its driver reports differently."""

    _GET_TALLY: ClassVar[str]
    _SEGMENT_SIZES: ClassVar[str]

    def get_tally(self, name: str) -> Tally:
        with self._scope("get_tally", atomic=False):
            row = self._conn.execute(self._GET_TALLY, (name,)).fetchone()
        return Tally(0, 0.0) if row is None else Tally(int(row[0]), float(row[1]))

    def segment_sizes(self) -> dict[str, int]:
        with self._scope("segment_sizes", atomic=False):
            rows = self._conn.execute(self._SEGMENT_SIZES).fetchall()
        return {segment: int(size) for segment, size in rows}
