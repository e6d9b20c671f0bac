"""JSON text for stored values: orjson where its answer is the standard library's,
the standard library wherever it might not be.

Stored values are read back as values, never compared as text, so only the
meaning must match: a float may be written ``1e-05`` or ``0.00001``. Where
orjson would mean something else, the standard library decides:

* writing, orjson turns ``NaN`` and infinities into ``null`` (the standard
  library, with ``allow_nan=False``, refuses them): any output holding
  ``null`` is written again by the standard library, which gives the same
  text or the same error;
* writing, orjson serializes what the standard library refuses (datetimes,
  dataclasses) or encodes differently (subclasses of ``str``, ``int``,
  ``dict``, ``list``): those are passed through to its error, and the
  standard library takes over, as it does for integers beyond 64 bits and
  keys that are not strings;
* reading, orjson turns integers beyond 64 bits into floats and refuses
  ``NaN``, lone surrogates and a byte-order mark: text holding 19 digits in a
  row, and text orjson refuses, is read by the standard library.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_STDLIB = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_PASSTHROUGH = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                | orjson.OPT_PASSTHROUGH_SUBCLASS)
_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


def dumps(value: Any) -> str:
    """``value`` as compact JSON text (``ensure_ascii=False``, ``allow_nan=False``).

    Raises ``TypeError`` or ``ValueError`` exactly where ``json.dumps`` would.
    """
    try:
        data = orjson.dumps(value, option=_PASSTHROUGH)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _STDLIB.encode(value)
    if b"null" in data:
        return _STDLIB.encode(value)
    return data.decode()


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text``; raises ``ValueError`` where ``json.loads`` would."""
    long_digits = _LONG_DIGITS_BYTES if isinstance(text, bytes) else _LONG_DIGITS
    if long_digits.search(text) is None:  # type: ignore[arg-type]
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
