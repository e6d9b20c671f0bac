"""A compiled condition: evaluating it for a subject and explaining the verdict per clause."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cdp_plugin.rules.expressions.values import Features, _Test

_VALUE_LENGTH = 64


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


def _show(value: Any) -> str:
    """A feature value for an explanation line, shortened."""
    if value is None:
        return "missing"
    try:
        text = value.isoformat() if isinstance(value, datetime) else str(value)
    except Exception:
        return "<unprintable>"
    return text if len(text) <= _VALUE_LENGTH else text[: _VALUE_LENGTH - 3] + "..."
