"""PostgreSQL store: segment tallies, sizes and daily churn."""

from __future__ import annotations

from datetime import date

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import SegmentDay, Tally, finite
from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.sql.segments import SQLSegments


class PostgresSegments(SQLSegments, PostgresCore):
    """The segment tallies of a PostgreSQL store."""

    _ADD_TALLY = (
        "INSERT INTO tallies (name, count, total) VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE "
        "SET count = tallies.count + excluded.count, total = tallies.total + excluded.total "
        "RETURNING count, total"
    )
    _GET_TALLY = "SELECT count, total FROM tallies WHERE name = %s"
    _ADD_SEGMENT_SIZE = (
        "INSERT INTO segment_sizes (segment, size) VALUES (%s, %s) ON CONFLICT (segment) DO UPDATE "
        "SET size = segment_sizes.size + excluded.size RETURNING size"
    )
    _SEGMENT_SIZES = "SELECT segment, size FROM segment_sizes ORDER BY segment"
    _COUNT_SEGMENT_DAY = (
        "INSERT INTO segment_stats (segment, day, size, entered, exited) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (segment, day) DO UPDATE SET "
        "size = excluded.size, "
        "entered = segment_stats.entered + excluded.entered, "
        "exited = segment_stats.exited + excluded.exited"
    )
    _SEGMENT_DAYS = (
        "SELECT segment, day, size, entered, exited FROM segment_stats "
        "WHERE %s::date IS NULL OR day >= %s ORDER BY segment, day"
    )

    def add_tally(self, name: str, count: int, total: float) -> Tally:
        op = "add_tally"
        amount = finite(total, op, "total")
        with self._scope(op, atomic=False):
            row = self._conn.execute(self._ADD_TALLY, (name, count, amount)).fetchone()
        if row is None:
            raise StorageError(f"{op} failed: no tally was returned")
        return Tally(int(row[0]), float(row[1]))

    def count_segment_change(self, segment: str, day: date, entered: int, exited: int) -> int:
        op = "count_segment_change"
        with self._scope(op, atomic=True):
            row = self._conn.execute(self._ADD_SEGMENT_SIZE, (segment, entered - exited)).fetchone()
            if row is None:
                raise StorageError(f"{op} failed: no size was returned")
            size = int(row[0])
            self._conn.execute(self._COUNT_SEGMENT_DAY, (segment, day, size, entered, exited))
        return size

    def segment_days(self, since: date | None = None) -> list[SegmentDay]:
        with self._scope("segment_days", atomic=False):
            rows = self._conn.execute(self._SEGMENT_DAYS, (since, since)).fetchall()
        return [SegmentDay(segment, day, int(size), int(entered), int(exited))
                for segment, day, size, entered, exited in rows]
