"""The audit log's canonical bytes are the standard library's, whichever encoder wrote them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_plugin.audit.log import canonical_json

STDLIB = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)


def reference(record: Any) -> bytes | None:
    """What the log wrote before orjson: the bytes, or None where it refused."""
    try:
        return STDLIB.encode(record).encode()
    except (TypeError, ValueError):
        return None


def ours(record: Any) -> bytes | None:
    try:
        return canonical_json(record)
    except (TypeError, ValueError):
        return None


scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70)
           | st.floats() | st.floats(-1e-3, 1e-3) | st.text(st.characters(codec=None))
           | st.text())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(), inner, max_size=5), max_leaves=25)


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.text(), values, min_size=1, max_size=8))
def test_canonical_bytes_are_the_standard_librarys(record: dict[str, Any]) -> None:
    assert ours(record) == reference(record)


class Code(str):
    pass


@pytest.mark.parametrize("record", [
    {"kind": "x", "f": 1e-05}, {"kind": "x", "f": 1.6e-07}, {"kind": "x", "f": 1e16},
    {"kind": "x", "f": float("nan")}, {"kind": "x", "f": float("-inf")},
    {"kind": "x", "n": 2**64}, {"kind": "x", 1: "int key"}, {"kind": Code("x")},
    {"kind": "x", "at": datetime(2026, 1, 1)}, {"kind": "x", "s": "\ud800"},
    {"kind": "x", "text": "0.0000 and e-mail null"},
    {"b": 1, "a": {"é": 1, "e": 2, "\U0001f600": 3}},
])
def test_values_orjson_would_write_otherwise(record: dict[Any, Any]) -> None:
    assert ours(record) == reference(record)


def test_only_what_may_differ_is_written_twice() -> None:
    from cdp_plugin.audit.log import _perhaps_not_canonical

    usual = {"kind": "event.decision", "ts": "2026-12-07T12:00:00.000001Z", "reason": "e-mail",
             "text": "null and void", "count": 10.00001, "name": "v0.0000"}
    assert not _perhaps_not_canonical(canonical_json(usual))
    for odd in ({"f": 1e-05}, {"f": -2.5e-09}, {"f": [0.00003]}, {"f": None}, {"f": float("nan")}):
        assert _perhaps_not_canonical(__import__("orjson").dumps(odd))
