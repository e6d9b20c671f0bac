"""The synthetic stream's item and the records a subject's timeline is planned in.

Also the two time helpers every part shares: millisecond truncation and the
``...Z`` timestamp format of a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from cdp_plugin.types import ConsentUpdate


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One item of the stream: a Segment Spec message or a preference-center update.

    Exactly one of ``event`` and ``preference`` is set. ``at`` is when the item
    reaches the CDP (UTC): an event's own ``timestamp`` except for a replay,
    which arrives later than the message it repeats.
    """

    at: datetime
    event: dict[str, Any] | None
    preference: ConsentUpdate | None


@dataclass(slots=True)
class _Subject:
    index: int
    persona: str
    platform: str
    anonymous_id: str
    user_id: str | None  # None: never identifies
    known: bool  # identified from the first event on (a returning, logged-in customer)
    offset: int  # hours from UTC, for local times of day
    context: dict[str, Any]  # the device's part of every message's context
    currency: str
    fx: float
    ips: tuple[str, ...]
    traits: dict[str, Any]
    favourites: tuple[str, ...]
    accessory_buyer: bool
    in_event_consent: bool
    prefs: dict[str, bool]
    identified_at: datetime | None = None
    withdrawal: tuple[datetime, str] | None = None

    def prefs_at(self, at: datetime) -> dict[str, bool]:
        if self.withdrawal is not None and at >= self.withdrawal[0]:
            return {**self.prefs, self.withdrawal[1]: False}
        return self.prefs


@dataclass(slots=True)
class _Step:
    kind: str  # a Segment message type
    name: str | None
    body: dict[str, Any]  # properties, or traits for identify
    page: tuple[str, str] | None = None  # (path, title) the browser is on
    dwell: float = 2.0  # seconds until the next step
    server: bool = False  # sent by the email service, not the subject's device


class _Planned(NamedTuple):
    # Ordered by (at, subject, seq), which is unique: later fields are never compared.
    at: datetime
    subject_index: int
    seq: int
    subject: _Subject
    item: _Step | ConsentUpdate
    message_id: str
    ip: str
    campaign: dict[str, str] | None


class _Campaign(NamedTuple):
    day: int
    campaign_id: str
    name: str
    path: str


def _ms(at: datetime) -> datetime:
    """``at`` truncated to milliseconds, the precision of a message's timestamp."""
    return at - timedelta(microseconds=at.microsecond % 1000)


def _iso(at: datetime) -> str:
    # Every time here is UTC, so the "+00:00" suffix is always six characters.
    return at.isoformat(timespec="milliseconds")[:-6] + "Z"
