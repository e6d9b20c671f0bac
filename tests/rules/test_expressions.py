"""The condition language: semantics, explanations, and refusal of anything unsafe."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_plugin.rules.expressions import (
    CORE_FEATURES,
    FUNCTIONS,
    MAX_DEPTH,
    ExpressionError,
    compile_condition,
    feature_names,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KNOWN = feature_names(["purchase", "email_open"], extra=["cart.value", "tags"])
PROFILE: dict[str, Any] = {
    "last_seen": "2026-11-20T12:00:00+00:00",
    "first_seen": datetime(2026, 1, 1, tzinfo=UTC),
    "event_count": 40,
    "purchase_count": 3,
    "total_spend": 250.0,
    "last_device_type": "ios",
    "last_locale": "de-DE",
    "cart.value": 80,
    "tags": ["vip", "newsletter"],
    "last_purchase": "2026-11-25T09:00:00",  # naive: read as UTC
    "email_open_count": None,  # None is the same as absent
}


def holds(source: str, features: dict[str, Any] | None = None) -> bool:
    return compile_condition(source, KNOWN).evaluate(PROFILE if features is None else features, NOW)


def test_core_features_and_counter_features() -> None:
    assert {"last_seen", "total_spend", "last_device_type"} <= CORE_FEATURES
    assert {"purchase_count", "last_purchase", "email_open_count", "last_email_open"} <= KNOWN
    assert {"cart.value", "tags"} <= KNOWN


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # comparisons, including chains
        ("total_spend >= 200", True),
        ("total_spend > 250", False),
        ("total_spend == 250", True),
        ("total_spend != 250", False),
        ("purchase_count < 3", False),
        ("purchase_count <= 3", True),
        ("1 < purchase_count < 5", True),
        ("1 < purchase_count < 3", False),
        ("0 <= purchase_count <= event_count", True),
        ('last_locale == "de-DE"', True),
        # and / or / not
        ("total_spend >= 200 and purchase_count >= 2", True),
        ("total_spend >= 200 and purchase_count >= 5", False),
        ("total_spend >= 900 or purchase_count >= 2", True),
        ("not total_spend >= 900", True),
        ("not (total_spend >= 200 and purchase_count >= 2)", False),
        # in / not in, with literals and with a feature
        ('last_device_type in ("ios", "android", "mobile")', True),
        ('last_device_type in ["android"]', False),
        ('last_device_type not in ("android",)', True),
        ("purchase_count in (1, 2, 3)", True),
        ("purchase_count in (-1, -3)", False),
        ('"vip" in tags', True),
        ('"churned" not in tags', True),
        # arithmetic on numbers
        ("total_spend / purchase_count > 80", True),
        ("total_spend / purchase_count > 90", False),
        ("total_spend - cart.value * 2 == 90", True),
        ("-total_spend < 0", True),
        ("total_spend + 1.5 > 251", True),
        # dotted feature names
        ("cart.value >= 80", True),
        # functions with a fixed now
        ("days_since(last_seen) <= 7", True),
        ("days_since(last_seen) == 5", True),
        ("days_since(last_seen) < 5", False),
        ("hours_since(last_purchase) == 3", True),
        ("days_since(first_seen) > 300", True),
        ('days_since("2026-11-24T12:00:00Z") == 1', True),
        ("coalesce(email_open_count, 0) == 0", True),
        ("coalesce(email_open_count, purchase_count, 7) == 3", True),
        ("len(tags) == 2", True),
        ("len(last_locale) == 5", True),
        ("days_until(last_seen) == -5", True),
        ('days_until("2026-11-27T00:00:00Z") == 1.5', True),
        ("days_between(first_seen, last_seen) > 300", True),
        ("days_between(last_seen, first_seen) < 0", True),
        ('hours_between(last_seen, "2026-11-20T15:00:00Z") == 3', True),
        ("hours_between(last_purchase, last_seen) == -117", True),
        # a bare value holds when truthy
        ("tags", True),
        ("purchase_count", True),
    ],
)
def test_semantics(source: str, expected: bool) -> None:
    assert holds(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # a comparison with a missing feature (absent or None) is false...
        ("email_open_count >= 0", False),
        ("email_open_count < 0", False),
        ("email_open_count == email_open_count", False),
        ("email_open_count != 1", False),
        ("last_email_open in (1, 2)", False),
        ("last_email_open not in (1, 2)", False),
        ('"vip" in last_channel', False),
        ("days_since(last_email_open) >= 0", False),
        ("days_until(last_email_open) <= 0", False),
        ("days_between(last_seen, last_email_open) != 1", False),
        ("hours_between(last_email_open, last_seen) != 1", False),
        ("len(last_channel) >= 0", False),
        ("email_open_count + 1 > 0", False),
        # ... and `not` inverts it normally
        ("not email_open_count >= 1", True),
        ("not (email_open_count < 1)", True),
        # None is missing too; coalesce skips it
        ("coalesce(None, 4) == 4", True),
        ("purchase_count == None", False),
        # a bare missing value is false
        ("email_open_count", False),
        ("not email_open_count", True),
    ],
)
def test_missing_features(source: str, expected: bool) -> None:
    assert holds(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("last_locale > 3", False),
        ("last_locale < 3", False),
        ("tags > 1", False),
        ("purchase_count in last_locale", False),
        ('last_locale + 1 == "de-DE1"', False),
        ('last_locale * 2 == "de-DEde-DE"', False),
        ("total_spend / 0 > 0", False),
        ("days_since(purchase_count) > 0", False),
        ("days_since(last_locale) > 0", False),
        ("len(purchase_count) > 0", False),
        ("tags in (1, 2)", False),
    ],
)
def test_type_mismatches_are_false_not_errors(source: str, expected: bool) -> None:
    assert holds(source) is expected


def test_evaluation_reads_features_and_now_at_call_time() -> None:
    condition = compile_condition("days_since(last_seen) <= 7", KNOWN)
    seen = {"last_seen": "2026-11-20T12:00:00+00:00"}
    assert condition.evaluate(seen, NOW)
    assert not condition.evaluate(seen, NOW + timedelta(days=3))
    assert condition.evaluate(seen, NOW.replace(tzinfo=None))  # naive now is UTC
    assert not condition.evaluate({}, NOW)


def test_features_lists_every_feature_read() -> None:
    condition = compile_condition(
        "days_since(last_seen) <= 7 and coalesce(purchase_count, 0) > 1 or cart.value > 2",
        KNOWN,
    )
    assert condition.features == frozenset({"last_seen", "purchase_count", "cart.value"})
    assert condition.source.startswith("days_since(last_seen)")


def test_explain_reports_each_top_level_clause_with_its_values() -> None:
    condition = compile_condition(
        'days_since(last_seen) <= 7 and total_spend >= 500 and last_device_type in ("ios",)',
        KNOWN,
    )
    assert condition.explain(PROFILE, NOW) == (
        "days_since(last_seen) <= 7: held (last_seen=2026-11-20T12:00:00+00:00)",
        "total_spend >= 500: failed (total_spend=250.0)",
        "last_device_type in ('ios',): held (last_device_type=ios)",
    )


def test_explain_of_an_or_chain_and_a_single_clause() -> None:
    either = compile_condition("purchase_count >= 5 or email_open_count > 1", KNOWN)
    assert either.explain(PROFILE, NOW) == (
        "purchase_count >= 5: failed (purchase_count=3)",
        "email_open_count > 1: failed (email_open_count=missing)",
    )
    single = compile_condition("first_seen < last_seen", KNOWN)
    assert single.explain({"first_seen": "a", "last_seen": "b"}, NOW) == (
        "first_seen < last_seen: held (first_seen=a, last_seen=b)",
    )
    constant = compile_condition("1 < 2", KNOWN)
    assert constant.explain({}, NOW) == ("1 < 2: held",)


def test_explain_shortens_long_values() -> None:
    condition = compile_condition("len(tags) > 100", KNOWN)
    (line,) = condition.explain({"tags": ["x" * 50] * 10}, NOW)
    assert line.startswith("len(tags) > 100: failed (tags=")
    assert len(line) < 120


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os')", "'__import__()' not allowed: only days_since"),
        ("().__class__", "attribute access is not allowed"),
        ("x[0]", "subscripts are not allowed"),
        ("tags[0] == 'vip'", "subscripts are not allowed"),
        ("lambda: 1", "lambda is not allowed"),
        ("[a for a in b]", "comprehensions are not allowed"),
        ("any(t for t in tags)", "not allowed"),
        ('f"{last_seen}"', "f-strings are not allowed"),
        ("open('f')", "'open()' not allowed"),
        ("(x := 1)", "assignment expressions (:=) are not allowed"),
        ("last_seen.__class__", "attribute access is not allowed"),
        ("cart.__dict__", "attribute access is not allowed"),
        ("__builtins__", "attribute access is not allowed"),
        ("last_seen.isoformat()", "'last_seen.isoformat()' not allowed"),
        ("tags.count('vip') > 0", "'tags.count()' not allowed"),
        ("foo > 1", "unknown feature 'foo'"),
        ("cart.total > 1", "unknown feature 'cart.total'"),
        ("len(*tags)", "starred arguments are not allowed"),
        ("coalesce(x=1)", "keyword arguments are not allowed"),
        ("days_since(last_seen, last_seen)", "days_since() takes exactly one argument"),
        ("days_between(last_seen)", "days_between() takes exactly 2 arguments, got 1"),
        ("hours_between(a, b, c)", "hours_between() takes exactly 2 arguments, got 3"),
        ("len()", "len() takes exactly one argument"),
        ("coalesce()", "coalesce() needs at least one argument"),
        ("1 if tags else 2", "conditional expressions are not allowed"),
        ("{'a': 1}", "dict literals are not allowed"),
        ("tags in {1, 2}", "the right of 'in' must be"),
        ("total_spend is None", "operator not allowed"),
        ("total_spend ** 2 > 1", "operator not allowed"),
        ("total_spend % 2 == 0", "operator not allowed"),
        ("~purchase_count", "operator not allowed"),
        ("b'x' == last_locale", "literal not allowed"),
        ("1j == total_spend", "literal not allowed"),
        ("(1, 2) == tags", "a list or tuple is only allowed on the right of 'in'"),
        ("purchase_count in (1, 2) in tags", "a list or tuple is only allowed"),
        ("purchase_count in (1, total_spend)", "only literals may be listed after 'in'"),
        ("purchase_count in days_since(last_seen)", "the right of 'in' must be"),
        ("total_spend >=", "syntax error"),
        ("import os", "syntax error"),
        ("", "must not be empty"),
        ("x\0", "must not contain NUL characters"),
    ],
)
def test_unsafe_or_invalid_constructs_are_rejected(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_condition(source, KNOWN)
    assert message in str(caught.value)


def test_limits_on_size_and_depth() -> None:
    with pytest.raises(ExpressionError, match="at most"):
        compile_condition("purchase_count > 1 and " * 200 + "True", KNOWN)
    with pytest.raises(ExpressionError, match="nested more than"):
        compile_condition("not " * (MAX_DEPTH + 1) + "tags", KNOWN)
    assert compile_condition("not " * (MAX_DEPTH - 1) + "tags", KNOWN).evaluate({}, NOW)


def test_unknown_feature_suggests_a_close_name() -> None:
    with pytest.raises(ExpressionError, match="did you mean 'purchase_count'"):
        compile_condition("purchase_cuont > 1", KNOWN)


def test_functions_are_exactly_the_documented_set() -> None:
    assert set(FUNCTIONS) == {"days_since", "hours_since", "days_until", "days_between",
                              "hours_between", "coalesce", "len"}


# -- fuzzing: random expression trees, allowed and disallowed -------------------------------

FUZZ_KNOWN = frozenset({"last_seen", "total_spend", "tags", "cart.value"})
_NAMES = ["last_seen", "total_spend", "tags", "cart", "value", "nope", "__import__", "__class__"]
_CALLABLE = [*FUNCTIONS, "open", "eval", "getattr", "__import__"]


def _load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


_constants = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.booleans(),
    st.none(),
    st.binary(max_size=2),
    st.complex_numbers(max_magnitude=10, allow_nan=False, allow_infinity=False),
)
_NO_ARGUMENTS = ast.arguments(
    posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
)
_CMPOPS = [ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is]
_BINOPS = [ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.Pow, ast.FloorDiv, ast.BitOr]
_UNARYOPS = [ast.Not, ast.USub, ast.UAdd, ast.Invert]
_KINDS = [
    "boolop", "unary", "binop", "compare", "call", "keyword_call", "attribute", "subscript",
    "tuple", "list", "set", "dict", "lambda", "listcomp", "fstring", "walrus", "ifexp",
]  # fmt: skip


@st.composite
def _trees(draw: st.DrawFn, budget: int = 4) -> ast.expr:
    """A random expression tree from a grammar wider than the rule language."""
    if budget <= 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            return _load(draw(st.sampled_from(_NAMES)))
        return ast.Constant(value=draw(_constants))

    def child() -> ast.expr:
        return draw(_trees(budget - 1))

    def children(low: int, high: int) -> list[ast.expr]:
        return [child() for _ in range(draw(st.integers(low, high)))]

    kind = draw(st.sampled_from(_KINDS))
    if kind == "boolop":
        return ast.BoolOp(op=draw(st.sampled_from([ast.And, ast.Or]))(), values=children(2, 3))
    if kind == "unary":
        return ast.UnaryOp(op=draw(st.sampled_from(_UNARYOPS))(), operand=child())
    if kind == "binop":
        return ast.BinOp(left=child(), op=draw(st.sampled_from(_BINOPS))(), right=child())
    if kind == "compare":
        count = draw(st.integers(1, 3))
        ops = [draw(st.sampled_from(_CMPOPS))() for _ in range(count)]
        return ast.Compare(left=child(), ops=ops, comparators=[child() for _ in range(count)])
    if kind == "call":
        args = children(0, 3)
        if draw(st.booleans()):
            args.append(ast.Starred(value=child(), ctx=ast.Load()))
        return ast.Call(func=_load(draw(st.sampled_from(_CALLABLE))), args=args, keywords=[])
    if kind == "keyword_call":
        keyword = ast.keyword(arg="k", value=child())
        return ast.Call(func=_load(draw(st.sampled_from(_CALLABLE))), args=[], keywords=[keyword])
    if kind == "attribute":
        attr = draw(st.sampled_from(["value", "x", "__class__", "__globals__", "mro"]))
        return ast.Attribute(value=child(), attr=attr, ctx=ast.Load())
    if kind == "subscript":
        return ast.Subscript(value=child(), slice=child(), ctx=ast.Load())
    if kind == "tuple":
        return ast.Tuple(elts=children(0, 3), ctx=ast.Load())
    if kind == "list":
        return ast.List(elts=children(0, 3), ctx=ast.Load())
    if kind == "set":
        return ast.Set(elts=children(1, 3))
    if kind == "dict":
        return ast.Dict(keys=[child()], values=[child()])
    if kind == "lambda":
        return ast.Lambda(args=_NO_ARGUMENTS, body=child())
    if kind == "listcomp":
        target = ast.Name(id="a", ctx=ast.Store())
        loop = ast.comprehension(target=target, iter=child(), ifs=[], is_async=0)
        return ast.ListComp(elt=child(), generators=[loop])
    if kind == "fstring":
        # A name only: other expressions may need backslashes, which f-strings forbid.
        value = ast.FormattedValue(value=_load("tags"), conversion=-1, format_spec=None)
        return ast.JoinedStr(values=[value])
    if kind == "walrus":
        return ast.NamedExpr(target=ast.Name(id="y", ctx=ast.Store()), value=child())
    return ast.IfExp(test=child(), body=child(), orelse=child())


_LITERALS = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.booleans(),
    st.none(),
)
_ORDERING = [ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq]
_ARITY = {"days_between": 2, "hours_between": 2}
_VALID_KINDS = ["boolop", "not", "sign", "binop", "compare", "in", "call"]


def _feature(name: str) -> ast.expr:
    """A feature reference; a dotted name becomes a Name with Attribute nodes, as parsed."""
    root, *rest = name.split(".")
    node: ast.expr = _load(root)
    for part in rest:
        node = ast.Attribute(value=node, attr=part, ctx=ast.Load())
    return node


@st.composite
def _valid_trees(draw: st.DrawFn, budget: int = 4) -> ast.expr:
    """A random expression inside the rule language; it must always compile."""
    if budget <= 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            return _feature(draw(st.sampled_from(sorted(FUZZ_KNOWN))))
        return ast.Constant(value=draw(_LITERALS))

    def child() -> ast.expr:
        return draw(_valid_trees(budget - 1))

    kind = draw(st.sampled_from(_VALID_KINDS))
    if kind == "boolop":
        values = [child() for _ in range(draw(st.integers(2, 3)))]
        return ast.BoolOp(op=draw(st.sampled_from([ast.And, ast.Or]))(), values=values)
    if kind == "not":
        return ast.UnaryOp(op=ast.Not(), operand=child())
    if kind == "sign":
        return ast.UnaryOp(op=draw(st.sampled_from([ast.USub, ast.UAdd]))(), operand=child())
    if kind == "binop":
        arithmetic = draw(st.sampled_from([ast.Add, ast.Sub, ast.Mult, ast.Div]))()
        return ast.BinOp(left=child(), op=arithmetic, right=child())
    if kind == "compare":
        count = draw(st.integers(1, 3))
        ops = [draw(st.sampled_from(_ORDERING))() for _ in range(count)]
        return ast.Compare(left=child(), ops=ops, comparators=[child() for _ in range(count)])
    if kind == "in":
        membership = draw(st.sampled_from([ast.In, ast.NotIn]))()
        if draw(st.booleans()):
            items = draw(st.lists(_LITERALS, max_size=4))
            right: ast.expr = ast.Tuple(elts=[ast.Constant(value=v) for v in items], ctx=ast.Load())
        else:
            right = _feature(draw(st.sampled_from(sorted(FUZZ_KNOWN))))
        return ast.Compare(left=child(), ops=[membership], comparators=[right])
    name = draw(st.sampled_from(FUNCTIONS))
    arity = _ARITY.get(name, 1)
    args = [child() for _ in range(draw(st.integers(1, 3)) if name == "coalesce" else arity)]
    return ast.Call(func=_load(name), args=args, keywords=[])


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.lists(st.integers() | st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_features = st.dictionaries(st.sampled_from(sorted(FUZZ_KNOWN)), _values)
_nows = st.datetimes(timezones=st.none() | st.just(UTC))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_trees(), features=_features, now=_nows)
def test_random_trees_compile_safely_or_are_rejected(
    tree: ast.expr, features: dict[str, Any], now: datetime
) -> None:
    source = ast.unparse(tree)
    try:
        condition = compile_condition(source, FUZZ_KNOWN)
    except ExpressionError:
        return
    assert isinstance(condition.evaluate(features, now), bool)
    explanation = condition.explain(features, now)
    assert all(isinstance(line, str) for line in explanation)
    assert condition.features <= FUZZ_KNOWN


@settings(max_examples=200, deadline=None)
@given(source=st.text(max_size=40))
def test_random_text_compiles_or_is_rejected(source: str) -> None:
    try:
        condition = compile_condition(source, FUZZ_KNOWN)
    except ExpressionError:
        return
    assert isinstance(condition.evaluate({}, NOW), bool)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_valid_trees(), features=_features, now=_nows)
def test_random_valid_trees_always_compile_and_evaluate(
    tree: ast.expr, features: dict[str, Any], now: datetime
) -> None:
    condition = compile_condition(ast.unparse(tree), FUZZ_KNOWN)
    assert isinstance(condition.evaluate(features, now), bool)
    assert all(isinstance(line, str) for line in condition.explain(features, now))


# -- the compiler accepts exactly the language: an independent statement of its grammar ------

_ORACLE_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_ORACLE_LITERALS = (int, float, str, bool, type(None))


def _oracle_feature(node: ast.expr, known: frozenset[str]) -> bool:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return False
    parts.append(node.id)
    return not any(p.startswith("__") for p in parts) and ".".join(reversed(parts)) in known


def _oracle_item(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)
    return isinstance(node, ast.Constant) and type(node.value) in _ORACLE_LITERALS


def _in_language(node: ast.expr, known: frozenset[str]) -> bool:
    """The rule language, restated: what the compiler must accept, and nothing else."""
    if isinstance(node, ast.BoolOp):
        return all(_in_language(value, known) for value in node.values)
    if isinstance(node, ast.UnaryOp):
        return (isinstance(node.op, ast.Not | ast.USub | ast.UAdd)
                and _in_language(node.operand, known))
    if isinstance(node, ast.BinOp):
        return (isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div)
                and _in_language(node.left, known) and _in_language(node.right, known))
    if isinstance(node, ast.Compare):
        if not _in_language(node.left, known):
            return False
        for index, (op, right) in enumerate(zip(node.ops, node.comparators, strict=True)):
            if isinstance(op, ast.In | ast.NotIn):
                last = index == len(node.ops) - 1
                listed = (isinstance(right, ast.Tuple | ast.List) and last
                          and all(_oracle_item(item) for item in right.elts))
                if not (listed or _oracle_feature(right, known)):
                    return False
            elif not (isinstance(op, _ORACLE_ORDERING) and _in_language(right, known)):
                return False
        return True
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.keywords:
            return False
        arity = {"coalesce": None, "days_between": 2, "hours_between": 2}.get(node.func.id, 1)
        if node.func.id not in FUNCTIONS:
            return False
        if (len(node.args) < 1) if arity is None else (len(node.args) != arity):
            return False
        return all(_in_language(arg, known) for arg in node.args)
    if isinstance(node, ast.Name | ast.Attribute):
        return _oracle_feature(node, known)
    if isinstance(node, ast.Constant):
        return type(node.value) in _ORACLE_LITERALS
    return False


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.one_of(_trees(), _valid_trees()))
def test_the_compiler_accepts_exactly_the_language(tree: ast.expr) -> None:
    source = ast.unparse(tree)
    try:
        parsed: ast.expr | None = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        parsed = None
    expected = parsed is not None and _in_language(parsed, FUZZ_KNOWN)
    try:
        compile_condition(source, FUZZ_KNOWN)
    except ExpressionError:
        accepted = False
    else:
        accepted = True
    assert accepted == expected, source
