"""SQLite store: segment tallies, sizes and daily churn."""

from __future__ import annotations

from datetime import date

from cdp_plugin.storage.base import SegmentDay, Tally, finite
from cdp_plugin.storage.sql.segments import SQLSegments
from cdp_plugin.storage.sqlite.core import SQLiteCore


class SQLiteSegments(SQLSegments, SQLiteCore):
    """The segment tallies of a SQLite store."""

    _ADD_TALLY = (
        "INSERT INTO tallies (name, count, total) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET "
        "count = tallies.count + excluded.count, total = tallies.total + excluded.total "
        "RETURNING count, total"
    )
    _GET_TALLY = "SELECT count, total FROM tallies WHERE name = ?"
    _ADD_SEGMENT_SIZE = (
        "INSERT INTO segment_sizes (segment, size) VALUES (?, ?) ON CONFLICT (segment) DO UPDATE "
        "SET size = segment_sizes.size + excluded.size RETURNING size"
    )
    _SEGMENT_SIZES = "SELECT segment, size FROM segment_sizes ORDER BY segment"
    _COUNT_SEGMENT_DAY = (
        "INSERT INTO segment_stats (segment, day, size, entered, exited) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (segment, day) DO UPDATE SET size = excluded.size, "
        "entered = segment_stats.entered + excluded.entered, "
        "exited = segment_stats.exited + excluded.exited"
    )
    _SEGMENT_DAYS = (
        "SELECT segment, day, size, entered, exited FROM segment_stats WHERE day >= ? "
        "ORDER BY segment, day"
    )

    def add_tally(self, name: str, count: int, total: float) -> Tally:
        op = "add_tally"
        amount = finite(total, op, "total")
        with self._scope(op, atomic=True):
            row = self._conn.execute(self._ADD_TALLY, (name, count, amount)).fetchall()[0]
        return Tally(int(row[0]), float(row[1]))

    def count_segment_change(self, segment: str, day: date, entered: int, exited: int) -> int:
        op = "count_segment_change"
        with self._scope(op, atomic=True):
            change = (segment, entered - exited)
            rows = self._conn.execute(self._ADD_SEGMENT_SIZE, change).fetchall()
            size = int(rows[0][0])
            self._conn.execute(self._COUNT_SEGMENT_DAY,
                               (segment, day.isoformat(), size, entered, exited))
        return size

    def segment_days(self, since: date | None = None) -> list[SegmentDay]:
        first = since.isoformat() if since is not None else ""
        with self._scope("segment_days", atomic=False):
            rows = self._conn.execute(self._SEGMENT_DAYS, (first,)).fetchall()
        return [SegmentDay(segment, date.fromisoformat(day), size, entered, exited)
                for segment, day, size, entered, exited in rows]
