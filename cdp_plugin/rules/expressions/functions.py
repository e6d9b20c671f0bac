"""The fixed set of functions a condition may call, and the time arithmetic behind them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cdp_plugin.rules.expressions.values import MISSING, Features, _Fn, _Node

FUNCTIONS: tuple[str, ...] = (
    "days_since", "hours_since", "days_until", "days_between", "hours_between", "coalesce", "len",
)
"""The only names a condition may call."""

_DAY = 86400.0
_HOUR = 3600.0
_SIZED_TYPES = (str, list, tuple, dict, set, frozenset)

_ARITY: Mapping[str, int] = {
    "days_since": 1, "hours_since": 1, "days_until": 1, "days_between": 2, "hours_between": 2,
    "len": 1,
}
"""Arguments each function takes; ``coalesce`` takes one or more."""


def _coalesce(args: Sequence[_Fn]) -> _Fn:
    def coalesce(f: Features, now: datetime) -> Any:
        for arg in args:
            value = arg(f, now)
            if value is not MISSING:
                return value
        return MISSING

    return coalesce


def _length(arg: _Fn) -> _Fn:
    def length(f: Features, now: datetime) -> Any:
        value = arg(f, now)
        return len(value) if type(value) in _SIZED_TYPES else MISSING

    return length


def _since(arg: _Node, unit_seconds: float) -> _Fn:
    key, read = arg.feature, arg.fn

    def since(f: Features, now: datetime) -> Any:
        then = _as_datetime(f.get(key) if key is not None else read(f, now))
        if then is None:
            return MISSING
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        try:
            elapsed = now - then
        except (TypeError, OverflowError):
            return MISSING
        # Summing the parts is several times cheaper than dividing two timedeltas.
        seconds = elapsed.days * 86400 + elapsed.seconds + elapsed.microseconds / 1e6
        return seconds / unit_seconds

    return since


def _between(start: _Node, end: _Node, unit_seconds: float) -> _Fn:
    """Time from ``start`` to ``end`` (negative if ``end`` is earlier); ``now`` plays no part."""
    start_fn, end_fn = start.fn, end.fn

    def between(f: Features, now: datetime) -> Any:
        first = _as_datetime(start_fn(f, now))
        second = _as_datetime(end_fn(f, now))
        if first is None or second is None:
            return MISSING
        try:
            elapsed = second - first
        except (TypeError, OverflowError):
            return MISSING
        return (elapsed.days * 86400 + elapsed.seconds + elapsed.microseconds / 1e6) / unit_seconds

    return between


def _as_datetime(value: Any) -> datetime | None:
    """An aware datetime from a datetime or an ISO-8601 string; None if it is neither."""
    if isinstance(value, str):
        return _parse_timestamp(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None


@lru_cache(maxsize=4096)
def _parse_timestamp(text: str) -> datetime | None:
    """Parsing dominates ``days_since``; one subject's timestamps recur across its segments."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
