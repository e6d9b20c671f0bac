"""What the rules models share: which messages an entry applies to, and the memo
that keeps per-event lookups cheap.

Lookups that run for every event are memoized per ``(event type, name)`` in a
bounded least-recently-used cache, because event names are chosen by senders and
their number is unbounded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

from cdp_plugin.rules.matching import compile_glob

MEMO_SIZE = 4096
"""How many distinct (event type, name) pairs each per-event lookup remembers."""

_T = TypeVar("_T")


def memoized(compute: Callable[[str, str | None], _T]) -> Callable[[str, str | None], _T]:
    """``compute`` behind a bounded LRU cache of :data:`MEMO_SIZE` entries."""
    return lru_cache(maxsize=MEMO_SIZE)(compute)


@dataclass(frozen=True, slots=True)
class EventMatch:
    """Which messages an entry applies to: a message type, a name glob, both or neither.

    ``event`` is matched against the message's name (the ``event`` of a track
    call, the ``name`` of a page or screen call) with :func:`compile_glob`; a
    message without a name never matches a pattern. An empty match matches all.
    """

    type: str | None = None
    event: str | None = None
    _glob: Callable[[str], bool] | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.event is not None:
            object.__setattr__(self, "_glob", compile_glob(self.event))

    def matches(self, event_type: str, name: str | None) -> bool:
        if self.type is not None and self.type != event_type:
            return False
        if self._glob is None:
            return True
        return name is not None and self._glob(name)
