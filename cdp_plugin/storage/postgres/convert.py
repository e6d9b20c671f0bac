"""Conversions between Python values and the columns of a PostgreSQL store."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(value: datetime) -> datetime:
    """``value`` (a ``timestamptz`` as read) in UTC."""
    return value.astimezone(UTC)
