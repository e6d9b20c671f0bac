"""Conversions between Python values and the columns of a SQLite store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import as_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime, operation: str, argument: str) -> int:
    """Microseconds since the epoch of ``value``; StorageError naming ``argument`` if naive."""
    return (as_utc(value, operation, argument) - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC datetime stored as ``micros`` microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def load_json(text: str, operation: str) -> Any:
    """Parse stored JSON text; StorageError naming ``operation`` if it is corrupt."""
    try:
        return json.loads(text)
    except ValueError:
        raise StorageError(f"{operation} failed: a stored JSON value is corrupt") from None
