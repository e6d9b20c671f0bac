"""JSON read through orjson gives the standard library's value, or is left to it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_plugin.events import decode_line
from cdp_plugin.json_read import NOT_READ, read_fast
from cdp_plugin.storage.base import load_json
from tests.storage.test_json_text import same

scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70)
           | st.integers(-2**64 - 10, 2**64 + 10)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20)


def stdlib(text: bytes | str) -> tuple[str, Any]:
    try:
        return "ok", json.loads(text)
    except (ValueError, RecursionError):
        return "error", None


@settings(max_examples=800, deadline=None)
@given(values, st.booleans())
def test_a_value_read_fast_is_the_standard_librarys(value: Any, as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=not as_bytes)
    data: bytes | str = text.encode() if as_bytes else text
    fast = read_fast(data)
    if fast is not NOT_READ:
        assert same(fast, json.loads(data))


@settings(max_examples=800, deadline=None)
@given(st.text(st.sampled_from('{}[]",:0123456789.eE+-nulltrfasNIy\\u0d8 ')) | st.binary())
def test_hostile_text_is_read_alike_or_left_to_the_standard_library(data: str | bytes) -> None:
    fast = read_fast(data)
    if fast is not NOT_READ:
        kind, theirs = stdlib(data)
        assert kind == "ok" and same(fast, theirs)


@pytest.mark.parametrize("text", [
    b'{"n":18446744073709551616}',        # beyond 64 bits: orjson would give a float
    b'{"n":-9223372036854775809}',
    b'{"n":1234567890123456789012345}',
    b'{"n":NaN}', b'{"n":Infinity}', b'{"n":1e999}',
    b'{"s":"\\ud800"}',                      # a lone surrogate escape
    b'\xef\xbb\xbf{"a":1}',                # a byte-order mark
    '{"a":1}'.encode("utf-16"),
])
def test_what_orjson_reads_differently_or_refuses_is_left_to_the_standard_library(
        text: bytes) -> None:
    assert read_fast(text) is NOT_READ


def test_a_big_integer_keeps_its_value_through_each_reader() -> None:
    big = 2**64 + 1
    assert load_json(f'{{"n":{big}}}', "get_profile") == {"n": big}
    assert type(decode_line(f'{{"type":"track","n":{big}}}'.encode())["n"]) is int
    assert decode_line(f'{{"n":{big}}}'.encode())["n"] == big


def test_ordinary_text_is_read_fast() -> None:
    assert read_fast(b'{"type":"track","n":123456789012345678,"x":1.5}') == {
        "type": "track", "n": 123456789012345678, "x": 1.5}
