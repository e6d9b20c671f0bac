"""The report's time buckets, shared by the decisions and segments sections."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cdp_plugin.audit.reporting.common import HOURLY_BELOW, MAX_BUCKETS, _parse_ts


@dataclass(frozen=True, slots=True)
class _Timeline:
    """The report's time buckets: hours for a span under three days, else days."""

    unit: str
    labels: list[str]
    bucket: Callable[[str], str]

    @classmethod
    def build(cls, hours: Iterable[str], first: str | None, last: str | None) -> _Timeline:
        keys = sorted(hours)
        if not keys:
            return cls("day", [], lambda hour: hour[:10])
        start, end = (_parse_ts(first or ""), _parse_ts(last or ""))
        span = end - start if start and end else timedelta(0)
        first_hour = datetime.strptime(keys[0], "%Y-%m-%dT%H").replace(tzinfo=UTC)
        last_hour = datetime.strptime(keys[-1], "%Y-%m-%dT%H").replace(tzinfo=UTC)
        if span < HOURLY_BELOW:
            count = int((last_hour - first_hour) / timedelta(hours=1)) + 1
            labels = [(first_hour + timedelta(hours=n)).strftime("%Y-%m-%dT%H:00Z")
                      for n in range(count)]
            return cls("hour", labels, lambda hour: hour + ":00Z")
        days = (last_hour.date() - first_hour.date()).days + 1
        if days > MAX_BUCKETS:
            labels = sorted({key[:10] for key in keys})
        else:
            labels = [(first_hour.date() + timedelta(days=n)).isoformat() for n in range(days)]
        return cls("day", labels, lambda hour: hour[:10])
