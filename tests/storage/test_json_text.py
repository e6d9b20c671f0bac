"""Stored JSON through orjson means what the standard library would have written and read."""

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


@settings(max_examples=600, deadline=None)
@given(values)
def test_loads_reads_what_the_standard_library_reads(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)  # NaN and Infinity included
    for form in (text, json.dumps(value)):
        assert same(json_text.loads(form), json.loads(form))
        encoded = form.encode("utf-8", "surrogatepass")  # as json.loads decodes bytes
        assert same(json_text.loads(encoded), json.loads(encoded))


@pytest.mark.parametrize("text", [
    '{"a":1,"a":2}', "123456789012345678901234567890", "-9223372036854775809",
    "18446744073709551616", "1e999", "-1e999", '"\\ud800"', '"\\udc00x"', "NaN",
    '[Infinity,-Infinity]', "0.1000000000000000055511151231257827", "-0", "-0.0",
    '"\\u0000\\u001f\\u007f\\u2028"', "[" * 200 + "]" * 200, " \n[1] ",
])
def test_loads_on_texts_orjson_reads_otherwise(text: str) -> None:
    assert same(json_text.loads(text), json.loads(text))
    assert same(json_text.loads(text.encode()), json.loads(text.encode()))


@pytest.mark.parametrize("text", ["\ufeff{}", "[1,]", "{'a':1}", "", "[1] x"])
def test_loads_refuses_what_the_standard_library_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        json_text.loads(text)


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
