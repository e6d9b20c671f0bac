"""Stored JSON written through orjson means what the standard library would have written."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_plugin.storage import json_text

STDLIB = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (1 is not 1.0; NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                       math.copysign(1, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70)
           | st.floats() | st.text(st.characters(codec=None)) | st.text())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20)


def outcome(function: Any, value: Any) -> tuple[str, Any]:
    """("ok", the text) or ("error", None) for what ``json.dumps`` callers catch."""
    try:
        return "ok", function(value)
    except (TypeError, ValueError):
        return "error", None


@settings(max_examples=600, deadline=None)
@given(values)
def test_dumps_means_what_the_standard_library_writes(value: Any) -> None:
    ours, theirs = outcome(json_text.dumps, value), outcome(STDLIB.encode, value)
    assert ours[0] == theirs[0]
    if ours[0] == "ok":
        assert same(json.loads(ours[1]), json.loads(theirs[1]))


class Label(str):
    pass


@pytest.mark.parametrize("value", [
    {"x": float("nan")}, [float("inf")], {"when": __import__("datetime").datetime(2026, 1, 1)},
    {1: "int key"}, {"big": 2**80}, {Label("k"): Label("v")}, {"s": {1, 2}},
    __import__("types").MappingProxyType({"a": 1}),
])
def test_dumps_on_values_orjson_writes_otherwise(value: Any) -> None:
    assert outcome(json_text.dumps, value)[0] == outcome(STDLIB.encode, value)[0]
    if outcome(STDLIB.encode, value)[0] == "ok":
        assert json_text.dumps(value) == STDLIB.encode(value)
