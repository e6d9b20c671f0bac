"""Consent statements and their resolution into one state per purpose.

A statement says "purpose P was granted (or denied) at time T, according to
source S". For one purpose the latest statement by capture time wins; at the
same time an explicit ledger record beats an in-event signal, and a denial
beats a grant. So a withdrawal always beats an older grant, and an explicit
preference-center record beats in-event signals older than it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cdp_plugin.types import ConsentState

EXPLICIT = 1
"""Rank of ledger statements (preference center, imports)."""
IN_EVENT = 0
"""Rank of statements read from the event itself."""


@dataclass(frozen=True, slots=True)
class Statement:
    """One source's word on one purpose."""

    purpose: str
    granted: bool
    captured_at: datetime
    source: str
    rank: int = IN_EVENT

    def order(self) -> tuple[datetime, int, bool]:
        """Sort key: later wins, then explicit over in-event, then denial over grant."""
        return (self.captured_at, self.rank, not self.granted)


def latest(statements: Iterable[Statement], skew: timedelta = timedelta(0)) -> Statement | None:
    """The statement that decides, or None if there is none.

    With ``skew``, an in-event statement wins over an explicit one only when
    it is more than ``skew`` later: an event's time comes from a client clock
    that may run that far ahead, so a banner's answer a moment "after" a
    preference-center withdrawal cannot be told from one made before it.
    """
    found = list(statements)
    if len(found) <= 1:  # the common case: no other statement to weigh it against
        return found[0] if found else None
    winner = max(found, key=Statement.order)
    if winner is None or winner.rank == EXPLICIT or not skew:
        return winner
    close = [s for s in found if s.rank == EXPLICIT and s.captured_at >= winner.captured_at - skew]
    return max(close, key=Statement.order) if close else winner


def state_of(statement: Statement | None) -> ConsentState:
    if statement is None:
        return ConsentState.UNKNOWN
    return ConsentState.GRANTED if statement.granted else ConsentState.DENIED


def most_restrictive(first: Statement | None, second: Statement | None) -> Statement | None:
    """For linked identities: a denial on either side wins, else the later grant."""
    if first is None or second is None:
        return first or second
    if first.granted != second.granted:
        return first if not first.granted else second
    return max(first, second, key=Statement.order)
