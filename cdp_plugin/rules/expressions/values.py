"""What the other parts of the language share: the error, the missing value, compiled nodes."""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

_SNIPPET_LENGTH = 60


class ExpressionError(ValueError):
    """A condition is not valid in the rule language; the message says which part and why."""


class _Missing:
    """The value of a feature that is absent or None; always falsy."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "missing"


MISSING: Final = _Missing()

Features = Mapping[str, Any]
_Fn = Callable[[Features, datetime], Any]
_Test = Callable[[Features, datetime], bool]


@dataclass(frozen=True, slots=True)
class _Node:
    """A compiled sub-expression and what the compiler knows about it statically."""

    fn: _Fn
    boolean: bool = False
    constant: bool = False
    value: Any = None
    feature: str | None = None


def _snippet(node: ast.AST, limit: int | None = _SNIPPET_LENGTH) -> str:
    text = ast.unparse(node)
    if limit is not None and len(text) > limit:
        return text[: limit - 3] + "..."
    return text
