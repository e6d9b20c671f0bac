"""Generalization: replace a value by a coarser one that still serves its purpose.

The ``generalize`` action of ``rules/minimization.yaml`` names its target in ``to``:

``hour``, ``day``, ``month``
    An ISO-8601 date-time string with a UTC offset (``2026-11-20T10:47:12.5+01:00``)
    becomes the start of its hour, day or month in UTC, written
    ``YYYY-MM-DDTHH:MM:SSZ``: ``2026-11-20T09:00:00Z`` to the hour,
    ``2026-11-20T00:00:00Z`` to the day, ``2026-11-01T00:00:00Z`` to the month.
    A date-time without an offset, a bare date or a number does not fit: its
    time zone is unknown, so no UTC boundary can be drawn.
``country``, ``region``
    A location object (Segment's ``context.location``) keeps only its
    ``country``, and with ``region`` also its ``region``, each when it is a
    non-empty string; an object without a country does not fit. A string is
    read as an ISO 3166 code, ``DE`` or ``US-CA`` (returned upper-case): to a
    country ``US-CA`` becomes ``US``; to a region it stays ``US-CA``. Any other
    string does not fit.
``age_band``
    An age (a number, or a string of 1-3 digits) from 0 to 150 becomes its band
    among ``bands``, the ascending lower bounds (default 18, 25, 35, 45, 55,
    65): ``"<18"`` below the first bound, ``"25-34"`` from one bound to the
    next minus one, ``"65+"`` from the last bound. A fraction counts down
    (24.9 is in ``"18-24"``).
``bucket``
    A number (or a decimal string such as ``"42.50"``) ``v`` becomes the range of
    width ``size`` that holds it, written ``"<low>-<high>"`` with
    ``low = floor(v / size) * size`` and ``high = low + size - 1``: with
    ``size: 100``, 100, 150 and 199.99 all give ``"100-199"``, 0 gives ``"0-99"``
    and -5 gives ``"-100--1"``.

When a rule generalizes a location and another rule names a path inside it,
the parts are judged by :func:`generalize_part`. A value that does not fit
its target gives None; the minimizer then drops
the field (fail closed) and records ``drop`` for its path. Booleans are never
numbers; NaN and infinities never fit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

TIME_UNITS: tuple[str, ...] = ("hour", "day", "month")
LOCATION_LEVELS: tuple[str, ...] = ("country", "region")
MAX_AGE = 150

_COUNTRY = re.compile(r"[A-Za-z]{2}")
_REGION = re.compile(r"([A-Za-z]{2})-[A-Za-z0-9]{1,3}")
_AGE_TEXT = re.compile(r"[0-9]{1,3}")
_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")
_MAX_TIMESTAMP_LENGTH = 64


def generalize(value: Any, params: Mapping[str, Any]) -> Any | None:
    """``value`` generalized as ``params`` say (``to`` and its parameters), or None
    if it does not fit. ``params`` come validated from the rules, with defaults."""
    target = params.get("to")
    if target in TIME_UNITS:
        return truncate_timestamp(value, target)
    if target in LOCATION_LEVELS:
        return coarsen_location(value, target)
    if target == "age_band":
        return age_band(value, params["bands"])
    if target == "bucket":
        return bucket(value, params["size"])
    return None


def generalize_part(within: Sequence[str], value: Any, params: Mapping[str, Any]) -> Any | None:
    """Generalize the part of a value found at the relative path ``within`` of it.

    A location is generalized as a whole, so of its parts only ``country`` (and,
    to a region, ``region``) is kept, as a non-empty string; every other part
    does not fit. Timestamps, ages and numbers are generalized part by part.
    """
    level = params.get("to")
    if level not in LOCATION_LEVELS:
        return generalize(value, params)
    wanted = ("country", "region") if level == "region" else ("country",)
    if len(within) == 1 and within[0] in wanted and isinstance(value, str) and value.strip():
        return value
    return None


def truncate_timestamp(value: Any, unit: str) -> str | None:
    """The start of the UTC hour, day or month of an offset-carrying ISO-8601 string."""
    if not isinstance(value, str) or len(value) > _MAX_TIMESTAMP_LENGTH:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return None
        at = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    hour = at.hour if unit == "hour" else 0
    day = 1 if unit == "month" else at.day
    return f"{at.year:04d}-{at.month:02d}-{day:02d}T{hour:02d}:00:00Z"


def coarsen_location(value: Any, level: str) -> dict[str, str] | str | None:
    """A location object cut down to country (and region), or an ISO 3166 code."""
    if isinstance(value, str):
        code = value.strip().upper()
        if _COUNTRY.fullmatch(code):
            return code
        region = _REGION.fullmatch(code)
        if region is None:
            return None
        return code if level == "region" else region[1]
    if not isinstance(value, Mapping):
        return None
    country = value.get("country")
    if not isinstance(country, str) or not country.strip():
        return None
    kept = {"country": country}
    region_name = value.get("region")
    if level == "region" and isinstance(region_name, str) and region_name.strip():
        kept["region"] = region_name
    return kept


def _number(value: Any) -> Decimal | None:
    """A finite number from a JSON number or a plain decimal string; never from a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def age_band(value: Any, bands: Sequence[int]) -> str | None:
    """The band of an age among the ascending lower bounds ``bands``: ``"<18"``, ``"25-34"``..."""
    if isinstance(value, str):
        if not _AGE_TEXT.fullmatch(value.strip()):
            return None
        number: Decimal | None = Decimal(value.strip())
    else:
        number = _number(value)
    if number is None or not 0 <= number <= MAX_AGE:
        return None
    age = int(number.to_integral_value(rounding=ROUND_FLOOR))
    if age < bands[0]:
        return f"<{bands[0]}"
    for low, high in pairwise(bands):
        if low <= age < high:
            return f"{low}-{high - 1}"
    return f"{bands[-1]}+"


def bucket(value: Any, size: int) -> str | None:
    """The range ``"<low>-<high>"`` of width ``size`` holding a number (see the module doc)."""
    number = _number(value)
    if number is None:
        return None
    try:
        index = (number / size).to_integral_value(rounding=ROUND_FLOOR)
    except InvalidOperation:
        return None
    low = int(index) * size
    return f"{low}-{low + size - 1}"
