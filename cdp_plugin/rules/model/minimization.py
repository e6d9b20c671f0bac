"""The contents of ``minimization.yaml``: per event kind and purpose, what happens to
each field; and the actions and parameters the file may use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from cdp_plugin.rules.model.common import EventMatch, memoized


class IntRange(NamedTuple):
    """The accepted range and the default of an integer action parameter (None: no default)."""

    low: int
    high: int
    default: int | None


class Choice(NamedTuple):
    """A required word parameter and the words it accepts."""

    options: tuple[str, ...]


class IntList(NamedTuple):
    """A non-empty, strictly ascending list of integers from ``low`` to ``high``."""

    low: int
    high: int
    default: tuple[int, ...]


ParamSpec = IntRange | Choice | IntList
ParamValue = int | str | tuple[int, ...]

GENERALIZE_TARGETS: Mapping[str, tuple[str, ...]] = {
    "hour": (),
    "day": (),
    "month": (),
    "country": (),
    "region": (),
    "age_band": ("bands",),
    "bucket": ("size",),
}
"""What ``generalize`` can produce (its ``to``), with the other parameters each target takes;
:mod:`cdp_plugin.minimization.generalize` documents each one."""

ACTION_PARAMETERS: Mapping[str, Mapping[str, ParamSpec]] = {
    # pii_scan: 0 exempts a kept field from the personal-data guard (e.g. a
    # field that must carry an address the purpose needs).
    "keep": {"pii_scan": IntRange(0, 1, 1)},
    "drop": {},
    "hash": {},
    "truncate": {
        "ipv4_prefix": IntRange(8, 32, 24),
        "ipv6_prefix": IntRange(16, 128, 48),
    },
    "generalize": {
        "to": Choice(tuple(GENERALIZE_TARGETS)),
        "bands": IntList(0, 150, (18, 25, 35, 45, 55, 65)),
        "size": IntRange(1, 10**12, None),
    },
    "encrypt": {},
}
"""Every minimization action the rules accept, with the parameters each one takes."""

PERMISSIVENESS: tuple[str, ...] = ("drop", "hash", "truncate", "generalize", "encrypt", "keep")
"""The actions from least to most permissive; across granted purposes the most permissive wins."""

@dataclass(frozen=True, slots=True)
class FieldRule:
    """One field path and what happens to it; ``params`` holds every parameter that
    applies, with defaults filled in."""

    path: str
    action: str
    params: Mapping[str, ParamValue]


@dataclass(frozen=True, slots=True)
class MinimizationRule:
    """The fields each purpose needs from the messages ``match`` selects.

    With ``allowlist`` true, fields that no granted purpose names are dropped;
    with it false they are kept unless a rule says otherwise. A rule with
    ``destinations`` shapes only the payloads delivered to those destinations
    (names from ``purposes.yaml``); one without shapes every payload.
    """

    name: str
    match: EventMatch
    purposes: Mapping[str, tuple[FieldRule, ...]]
    allowlist: bool
    destinations: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MinimizationRules:
    """The contents of ``minimization.yaml``, in file order."""

    rules: tuple[MinimizationRule, ...]
    _memo: Callable[[str, str | None], tuple[MinimizationRule, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_memo", memoized(self._select))

    def matching(self, event_type: str, name: str | None) -> tuple[MinimizationRule, ...]:
        """The rules that apply to a message, in file order."""
        return self._memo(event_type, name)

    def _select(self, event_type: str, name: str | None) -> tuple[MinimizationRule, ...]:
        return tuple(rule for rule in self.rules if rule.match.matches(event_type, name))
