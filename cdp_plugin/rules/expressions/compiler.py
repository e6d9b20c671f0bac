"""The ast walk: reject everything outside the language, build closures for the rest."""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from cdp_plugin.rules.expressions.combinators import (
    _all,
    _any,
    _as_test,
    _compare_values,
    _pair,
)
from cdp_plugin.rules.expressions.condition import CompiledCondition, _Clause
from cdp_plugin.rules.expressions.functions import (
    _ARITY,
    _DAY,
    _HOUR,
    FUNCTIONS,
    _between,
    _coalesce,
    _length,
    _since,
)
from cdp_plugin.rules.expressions.values import (
    MISSING,
    ExpressionError,
    Features,
    _Node,
    _snippet,
)

MAX_SOURCE_LENGTH = 2000
MAX_DEPTH = 64


def compile_condition(source: str, known_features: Collection[str]) -> CompiledCondition:
    """Parse, check and compile a condition over ``known_features``.

    Raises :class:`ExpressionError` naming the offending part (an unknown feature,
    a call to something other than :data:`FUNCTIONS`, attribute access, subscripts,
    lambdas, comprehensions, f-strings, ``:=`` and any other construct outside the
    language) and never any other exception.
    """
    if not isinstance(source, str):
        raise ExpressionError("a condition must be a string")
    if not source.strip():
        raise ExpressionError("a condition must not be empty")
    if "\0" in source:
        raise ExpressionError("a condition must not contain NUL characters")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(f"a condition must be at most {MAX_SOURCE_LENGTH} characters long")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        column = f" at column {error.offset}" if error.offset else ""
        raise ExpressionError(f"syntax error{column}: {error.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError("the condition cannot be parsed") from None

    compiler = _Compiler(frozenset(known_features))
    top = tree.body
    parts = top.values if isinstance(top, ast.BoolOp) else [top]
    clauses = []
    for part in parts:
        compiler.used = set()
        test = _as_test(compiler.compile(part))
        clauses.append(_Clause(_snippet(part, limit=None), tuple(sorted(compiler.used)), test))
    tests = [clause.test for clause in clauses]
    if isinstance(top, ast.BoolOp):
        whole = _all(tests) if isinstance(top.op, ast.And) else _any(tests)
    else:
        whole = tests[0]
    used = frozenset(name for clause in clauses for name in clause.features)
    return CompiledCondition(source, used, whole, tuple(clauses))


_COMPARISONS: Mapping[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda item, container: item in container,
    ast.NotIn: lambda item, container: item not in container,
}
_ARITHMETIC: Mapping[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_NUMBER_TYPES = (int, float)
_LITERAL_TYPES = (int, float, str, bool, type(None))
_SIZED_TYPES = (str, list, tuple, dict, set, frozenset)
_REJECTED: Mapping[type[ast.AST], str] = {
    ast.Subscript: "subscripts are not allowed",
    ast.Slice: "subscripts are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Tuple: "a list or tuple is only allowed on the right of 'in' or 'not in'",
    ast.List: "a list or tuple is only allowed on the right of 'in' or 'not in'",
}


class _Compiler:
    """Turns an allowed AST into closures; rejects everything else."""

    def __init__(self, known: frozenset[str]) -> None:
        self.known = known
        self.used: set[str] = set()
        self.depth = 0

    def compile(self, node: ast.expr) -> _Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ExpressionError(f"the condition is nested more than {MAX_DEPTH} levels deep")
            if isinstance(node, ast.BoolOp):
                return self._bool_op(node)
            if isinstance(node, ast.UnaryOp):
                return self._unary(node)
            if isinstance(node, ast.Compare):
                return self._compare(node)
            if isinstance(node, ast.BinOp):
                return self._arithmetic(node)
            if isinstance(node, ast.Call):
                return self._call(node)
            if isinstance(node, ast.Name | ast.Attribute):
                return self._feature(node)
            if isinstance(node, ast.Constant):
                value = _literal(node)
                return _Node(lambda f, now: value, constant=True, value=value)
            reason = _REJECTED.get(type(node), f"{type(node).__name__} is not part of the language")
            raise ExpressionError(f"{reason}: '{_snippet(node)}'")
        finally:
            self.depth -= 1

    def _bool_op(self, node: ast.BoolOp) -> _Node:
        tests = [_as_test(self.compile(value)) for value in node.values]
        return _Node(_all(tests) if isinstance(node.op, ast.And) else _any(tests), boolean=True)

    def _unary(self, node: ast.UnaryOp) -> _Node:
        if isinstance(node.op, ast.Not):
            test = _as_test(self.compile(node.operand))
            return _Node(lambda f, now: not test(f, now), boolean=True)
        if isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.compile(node.operand)
            sign = -1 if isinstance(node.op, ast.USub) else 1
            if operand.constant and type(operand.value) in _NUMBER_TYPES:
                folded = sign * operand.value
                return _Node(lambda f, now: folded, constant=True, value=folded)
            inner = operand.fn

            def signed(f: Features, now: datetime) -> Any:
                value = inner(f, now)
                return sign * value if type(value) in _NUMBER_TYPES else MISSING

            return _Node(signed)
        raise ExpressionError(f"operator not allowed: '{_snippet(node)}'")

    def _compare(self, node: ast.Compare) -> _Node:
        compiled = [self.compile(node.left)]
        ops = []
        for index, (op, right) in enumerate(zip(node.ops, node.comparators, strict=True)):
            compare = _COMPARISONS.get(type(op))
            if compare is None:
                hint = "; use == or !=" if isinstance(op, ast.Is | ast.IsNot) else ""
                raise ExpressionError(f"operator not allowed: '{_snippet(node)}'{hint}")
            if isinstance(op, ast.In | ast.NotIn):
                compiled.append(self._container(right, chained=index + 1 < len(node.ops)))
            else:
                compiled.append(self.compile(right))
            ops.append(compare)
        if len(ops) == 1:
            return _Node(_pair(ops[0], compiled[0], compiled[1]), boolean=True)
        steps = list(zip(ops, (c.fn for c in compiled[1:]), strict=True))
        first = compiled[0].fn

        def chain(f: Features, now: datetime) -> bool:
            left = first(f, now)
            for compare, right_fn in steps:
                right = right_fn(f, now)
                if not _compare_values(compare, left, right):
                    return False
                left = right
            return True

        return _Node(chain, boolean=True)

    def _container(self, node: ast.expr, chained: bool) -> _Node:
        if isinstance(node, ast.Tuple | ast.List):
            if chained:
                raise ExpressionError(
                    "a list or tuple is only allowed on the right of 'in' or 'not in': "
                    f"'{_snippet(node)}'"
                )
            values = frozenset(_literal_item(element) for element in node.elts)
            return _Node(lambda f, now: values, constant=True, value=values)
        if isinstance(node, ast.Name | ast.Attribute):
            return self._feature(node)
        raise ExpressionError(
            "the right of 'in' must be a list or tuple of literals, or a feature: "
            f"'{_snippet(node)}'"
        )

    def _arithmetic(self, node: ast.BinOp) -> _Node:
        compute = _ARITHMETIC.get(type(node.op))
        if compute is None:
            raise ExpressionError(
                f"operator not allowed: '{_snippet(node)}'; only + - * / on numbers"
            )
        left = self.compile(node.left).fn
        right = self.compile(node.right).fn

        def arithmetic(f: Features, now: datetime) -> Any:
            a = left(f, now)
            b = right(f, now)
            if type(a) not in _NUMBER_TYPES or type(b) not in _NUMBER_TYPES:
                return MISSING
            try:
                return compute(a, b)
            except ArithmeticError:
                return MISSING

        return _Node(arithmetic)

    def _call(self, node: ast.Call) -> _Node:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            raise ExpressionError(
                f"'{_snippet(func)}()' not allowed: only {', '.join(FUNCTIONS)} may be called"
            )
        if node.keywords:
            raise ExpressionError(f"keyword arguments are not allowed: '{_snippet(node)}'")
        name = func.id
        count = len(node.args)
        wanted = _ARITY.get(name)
        if wanted is None and count < 1:
            raise ExpressionError(f"{name}() needs at least one argument")
        if wanted is not None and count != wanted:
            number = "one argument" if wanted == 1 else f"{wanted} arguments"
            raise ExpressionError(f"{name}() takes exactly {number}, got {count}")
        args = [self.compile(arg) for arg in node.args]
        if name == "coalesce":
            return _Node(_coalesce([arg.fn for arg in args]))
        if name == "len":
            return _Node(_length(args[0].fn))
        if name in ("days_between", "hours_between"):
            return _Node(_between(args[0], args[1], _DAY if name == "days_between" else _HOUR))
        unit = _HOUR if name == "hours_since" else _DAY
        return _Node(_since(args[0], -unit if name == "days_until" else unit))

    def _feature(self, node: ast.Name | ast.Attribute) -> _Node:
        parts: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            raise ExpressionError(f"attribute access is not allowed: '{_snippet(node)}'")
        parts.append(current.id)
        parts.reverse()
        key = ".".join(parts)
        if any(part.startswith("__") for part in parts):
            # Dotted names are feature keys, but a dunder segment can only be an
            # attempt at Python attribute access: refuse it before any lookup.
            raise ExpressionError(f"attribute access is not allowed: '{key}'")
        if key not in self.known:
            close = difflib.get_close_matches(key, sorted(self.known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ExpressionError(f"unknown feature '{key}'{hint}")
        self.used.add(key)

        def lookup(f: Features, now: datetime) -> Any:
            value = f.get(key)
            return MISSING if value is None else value

        return _Node(lookup, feature=key)


def _literal(node: ast.Constant) -> Any:
    value = node.value
    if type(value) not in _LITERAL_TYPES:
        raise ExpressionError(
            f"literal not allowed: '{_snippet(node)}'; use numbers, strings, True, False or None"
        )
    return MISSING if value is None else value


def _literal_item(node: ast.expr) -> Any:
    """An element of an ``in`` list: a literal, or a number with a sign."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value: Any = node.operand.value if isinstance(node.operand, ast.Constant) else None
        if type(value) not in _NUMBER_TYPES:
            raise ExpressionError(f"only literals may be listed after 'in': '{_snippet(node)}'")
        return -value if isinstance(node.op, ast.USub) else value
    if not isinstance(node, ast.Constant):
        raise ExpressionError(f"only literals may be listed after 'in': '{_snippet(node)}'")
    return _literal(node)
