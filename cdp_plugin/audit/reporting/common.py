"""Limits, labels and ranking shared by the audit report's record handlers and sections."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ACTIONS = ("allow", "drop", "quarantine")
CONSENT_STATES = ("granted", "denied", "unknown")
NO_JURISDICTION = "(none)"
HOURLY_BELOW = timedelta(days=3)  # a shorter span is reported per hour, a longer one per day
MAX_BUCKETS = 4000  # beyond this many days, only days with records are listed
TOP_PATHS = 20
MAX_LISTED = 1000  # repairs and key rotations listed one by one; the rest are only counted

Record = Mapping[str, Any]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _parse_ts(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(slots=True)
class _RulesLoad:
    ts: str
    seq: int
    log: str
    version: str
    files: dict[str, str]
    plugins: list[str]


@dataclass(slots=True)
class _RulesChange:
    ts: str
    seq: int
    log: str
    previous_version: str
    version: str
    previous_files: dict[str, str]
    files: dict[str, str]


def _by_count(item: tuple[Any, int]) -> tuple[int, str]:
    return -item[1], str(item[0])


def _ranked(counts: Mapping[str, int]) -> dict[str, int]:
    """Most frequent first, ties by name: the order tables and bar charts show."""
    return dict(sorted(counts.items(), key=_by_count))
