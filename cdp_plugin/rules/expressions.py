"""The segment condition language: a small, safe subset of Python expressions.

A condition such as ``days_since(last_seen) <= 7 and purchase_count >= 2`` is
parsed with :mod:`ast`, checked against an allow-list of node types, and
compiled once into nested closures. Nothing is ever passed to ``eval``, ``exec``
or ``compile``, and no Python attribute is ever read: a dotted name like
``cart.value`` is one feature key.

Allowed: ``and``, ``or``, ``not``; comparisons ``< <= > >= == !=`` (chains
too); ``in`` / ``not in`` with a list or tuple of literals or a feature on the
right; ``+ - * /`` on numbers; unary ``-`` and ``+``; literals (int, float, str,
bool, None); feature names; calls to ``days_since(ts)``, ``hours_since(ts)``,
``days_until(ts)``, ``days_between(start, end)``, ``hours_between(start, end)``,
``coalesce(a, b, ...)`` and ``len(x)``.

Time functions take timestamps (ISO-8601 strings or datetimes; naive ones
are UTC) and return fractions: ``days_since(ts)`` is how long ago ``ts`` was
at the evaluation time (negative for a future ``ts``), ``days_until(ts)`` its
opposite, and ``days_between(start, end)`` the time from ``start`` to ``end``
(negative if ``end`` comes first). The ``hours_`` forms count hours.

Missing values, defined once here:

- a feature that is absent or ``None`` is *missing*; the literal ``None`` is
  missing too;
- arithmetic, the time functions and ``len`` return missing when an
  input is missing or of the wrong type (a timestamp that does not parse, a
  string added to a number, a division by zero);
- ``coalesce`` returns its first argument that is not missing;
- a comparison (including ``in``) with a missing operand is **false**, and so is
  a comparison whose operands cannot be compared (``"a" < 1``);
- ``not`` inverts normally, so ``not (purchase_count > 0)`` holds for a subject
  with no ``purchase_count`` at all;
- a bare value used as a condition holds when it is truthy; missing is false.

Evaluation never raises.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

CORE_FEATURES: frozenset[str] = frozenset(
    {
        # activity
        "first_seen",
        "last_seen",
        "recency_days",
        "event_count",
        "events_7d",
        "events_30d",
        "events_90d",
        "active_days_30d",
        "last_event_type",
        "view_count",
        # purchases
        "total_spend",
        "average_order_value",
        "currency",
        "cohort_average_order_value",
        "purchase_interval_days",
        "purchase_interval_spread_days",
        "next_purchase_expected",
        "accessory_orders",
        "accessory_attach_rate",
        "season_purchases",
        "season_purchase_share",
        # product categories
        "top_category",
        "top_category_share",
        "top_categories",
        "top_category_shares",
        # cart
        "cart_open",
        "cart_items",
        "cart_value",
        "cart_last_activity",
        # sessions
        "session_count",
        "last_session_depth",
        "last_session_seconds",
        "avg_session_depth",
        "avg_session_seconds",
        "avg_view_seconds",
        # context
        "last_device_type",
        "last_channel",
        "last_locale",
        "last_language",
        "last_timezone",
        "active_channels_30d",
    }
)
"""Features of every subject profile; each counter adds ``<count>_count``, ``first_<count>``
and ``last_<count>``. :mod:`cdp_plugin.segments.view` says how each is computed."""

CHANNEL_FEATURES: frozenset[str] = frozenset({"active_channels_30d"})
"""Core features computed from the counters the ``channels`` setting names."""

FUNCTIONS: tuple[str, ...] = (
    "days_since", "hours_since", "days_until", "days_between", "hours_between", "coalesce", "len",
)
"""The only names a condition may call."""

MAX_SOURCE_LENGTH = 2000
MAX_DEPTH = 64
_SNIPPET_LENGTH = 60
_VALUE_LENGTH = 64
_DAY = 86400.0
_HOUR = 3600.0


class ExpressionError(ValueError):
    """A condition is not valid in the rule language; the message says which part and why."""


def count_features(count: str) -> tuple[str, str, str]:
    """The features a behaviour counter named ``count`` provides: how many, first and last."""
    return f"{count}_count", f"first_{count}", f"last_{count}"


def feature_names(counts: Iterable[str], extra: Iterable[str] = ()) -> frozenset[str]:
    """Every feature a condition may use: the core ones, three per counter, and ``extra``."""
    names = set(CORE_FEATURES)
    for count in counts:
        names.update(count_features(count))
    names.update(extra)
    return frozenset(names)


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
class _Clause:
    text: str
    features: tuple[str, ...]
    test: _Test


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """A condition compiled to closures. Build it with :func:`compile_condition`.

    ``features`` is every feature the condition reads.
    """

    source: str
    features: frozenset[str]
    _test: _Test = field(repr=False, compare=False)
    _clauses: tuple[_Clause, ...] = field(repr=False, compare=False)

    def evaluate(self, features: Features, now: datetime) -> bool:
        """Whether the condition holds for a subject's ``features`` at ``now``. Never raises.

        A naive ``now`` is taken as UTC, and so are naive timestamps.
        """
        return self._test(features, now)

    def explain(self, features: Features, now: datetime) -> tuple[str, ...]:
        """One line per top-level clause of the condition's and/or chain.

        Each reads ``<clause>: held (<feature>=<value>, ...)`` or ``...: failed (...)``
        with the values of the features the clause reads (``missing`` for absent).
        """
        lines = []
        for clause in self._clauses:
            verdict = "held" if clause.test(features, now) else "failed"
            shown = ", ".join(f"{name}={_show(features.get(name))}" for name in clause.features)
            line = f"{clause.text}: {verdict}"
            lines.append(f"{line} ({shown})" if shown else line)
        return tuple(lines)


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


@dataclass(frozen=True, slots=True)
class _Node:
    """A compiled sub-expression and what the compiler knows about it statically."""

    fn: _Fn
    boolean: bool = False
    constant: bool = False
    value: Any = None
    feature: str | None = None


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


_ARITY: Mapping[str, int] = {
    "days_since": 1, "hours_since": 1, "days_until": 1, "days_between": 2, "hours_between": 2,
    "len": 1,
}
"""Arguments each function takes; ``coalesce`` takes one or more."""


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


def _coalesce(args: Sequence[_Fn]) -> _Fn:
    def coalesce(f: Features, now: datetime) -> Any:
        for arg in args:
            value = arg(f, now)
            if value is not MISSING:
                return value
        return MISSING

    return coalesce


def _length(arg: _Fn) -> _Fn:
    def length(f: Features, now: datetime) -> Any:
        value = arg(f, now)
        return len(value) if type(value) in _SIZED_TYPES else MISSING

    return length


def _since(arg: _Node, unit_seconds: float) -> _Fn:
    key, read = arg.feature, arg.fn

    def since(f: Features, now: datetime) -> Any:
        then = _as_datetime(f.get(key) if key is not None else read(f, now))
        if then is None:
            return MISSING
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        try:
            elapsed = now - then
        except (TypeError, OverflowError):
            return MISSING
        # Summing the parts is several times cheaper than dividing two timedeltas.
        seconds = elapsed.days * 86400 + elapsed.seconds + elapsed.microseconds / 1e6
        return seconds / unit_seconds

    return since


def _between(start: _Node, end: _Node, unit_seconds: float) -> _Fn:
    """Time from ``start`` to ``end`` (negative if ``end`` is earlier); ``now`` plays no part."""
    start_fn, end_fn = start.fn, end.fn

    def between(f: Features, now: datetime) -> Any:
        first = _as_datetime(start_fn(f, now))
        second = _as_datetime(end_fn(f, now))
        if first is None or second is None:
            return MISSING
        try:
            elapsed = second - first
        except (TypeError, OverflowError):
            return MISSING
        return (elapsed.days * 86400 + elapsed.seconds + elapsed.microseconds / 1e6) / unit_seconds

    return between


def _as_datetime(value: Any) -> datetime | None:
    """An aware datetime from a datetime or an ISO-8601 string; None if it is neither."""
    if isinstance(value, str):
        return _parse_timestamp(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None


@lru_cache(maxsize=4096)
def _parse_timestamp(text: str) -> datetime | None:
    """Parsing dominates ``days_since``; one subject's timestamps recur across its segments."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _snippet(node: ast.AST, limit: int | None = _SNIPPET_LENGTH) -> str:
    text = ast.unparse(node)
    if limit is not None and len(text) > limit:
        return text[: limit - 3] + "..."
    return text


def _show(value: Any) -> str:
    """A feature value for an explanation line, shortened."""
    if value is None:
        return "missing"
    try:
        text = value.isoformat() if isinstance(value, datetime) else str(value)
    except Exception:
        return "<unprintable>"
    return text if len(text) <= _VALUE_LENGTH else text[: _VALUE_LENGTH - 3] + "..."
