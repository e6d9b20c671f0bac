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

from cdp_plugin.rules.expressions.compiler import MAX_DEPTH, MAX_SOURCE_LENGTH, compile_condition
from cdp_plugin.rules.expressions.condition import CompiledCondition
from cdp_plugin.rules.expressions.features import (
    CHANNEL_FEATURES,
    CORE_FEATURES,
    count_features,
    feature_names,
)
from cdp_plugin.rules.expressions.functions import FUNCTIONS
from cdp_plugin.rules.expressions.values import MISSING, ExpressionError, Features

__all__ = [
    "CHANNEL_FEATURES",
    "CORE_FEATURES",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_SOURCE_LENGTH",
    "MISSING",
    "CompiledCondition",
    "ExpressionError",
    "Features",
    "compile_condition",
    "count_features",
    "feature_names",
]
