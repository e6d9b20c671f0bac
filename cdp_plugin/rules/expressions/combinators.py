"""Comparisons that treat missing as false, and the closures that join tests with and/or."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from cdp_plugin.rules.expressions.values import MISSING, Features, _Node, _Test


def _compare_values(compare: Callable[[Any, Any], Any], left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return False
    try:
        return bool(compare(left, right))
    except Exception:
        # Operands that cannot be compared make the comparison false, by definition.
        return False


def _pair(compare: Callable[[Any, Any], Any], left: _Node, right: _Node) -> _Test:
    """A single comparison, specialized for the common shape: a value versus a literal."""
    if not right.constant:
        left_fn, right_fn = left.fn, right.fn
        return lambda f, now: _compare_values(compare, left_fn(f, now), right_fn(f, now))
    constant = right.value
    if constant is MISSING:
        return lambda f, now: False
    key, read = left.feature, left.fn

    def value_vs_constant(f: Features, now: datetime) -> bool:
        # Reading a feature inline saves a call on the most common shape.
        value = f.get(key) if key is not None else read(f, now)
        if value is None or value is MISSING:
            return False
        try:
            return bool(compare(value, constant))
        except Exception:
            return False

    return value_vs_constant


def _as_test(node: _Node) -> _Test:
    if node.boolean:
        return node.fn
    inner = node.fn

    def truthy(f: Features, now: datetime) -> bool:
        try:
            return bool(inner(f, now))
        except Exception:
            return False

    return truthy


def _all(tests: Sequence[_Test]) -> _Test:
    """``and`` over tests, left to right, as a balanced tree of pairs.

    Pairs of closures are markedly cheaper per evaluation than a loop or a
    generator, and balancing keeps the call depth logarithmic in the clause count.
    """
    if len(tests) == 1:
        return tests[0]
    middle = len(tests) // 2
    left, right = _all(tests[:middle]), _all(tests[middle:])
    return lambda f, now: left(f, now) and right(f, now)


def _any(tests: Sequence[_Test]) -> _Test:
    """``or`` over tests, left to right; built like :func:`_all`."""
    if len(tests) == 1:
        return tests[0]
    middle = len(tests) // 2
    left, right = _any(tests[:middle]), _any(tests[middle:])
    return lambda f, now: left(f, now) or right(f, now)
