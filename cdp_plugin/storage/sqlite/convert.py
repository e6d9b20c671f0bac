"""Conversions between Python values and the columns of a SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cdp_plugin.storage.base import as_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime, operation: str, argument: str) -> int:
    """Microseconds since the epoch of ``value``; StorageError naming ``argument`` if naive."""
    return (as_utc(value, operation, argument) - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC datetime stored as ``micros`` microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)
