"""JSON text for stored values: written by orjson where its answer is the standard
library's, by the standard library wherever it might not be.

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
  keys that are not strings.

Stored text is read by :func:`cdp_plugin.storage.base.load_json`, through
:mod:`cdp_plugin.json_read`: by orjson where its value is the standard
library's, by the standard library wherever it might not be.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_STDLIB = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_PASSTHROUGH = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                | orjson.OPT_PASSTHROUGH_SUBCLASS)


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

