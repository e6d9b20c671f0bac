"""The contents of ``purposes.yaml``: purposes, channels and caps, consent policy,
quiet hours, and the maps from in-event consent signals to purposes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, time, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdp_plugin.rules.model.common import MEMO_SIZE, EventMatch, memoized
from cdp_plugin.rules.presets import category_key

LEGAL_BASES: tuple[str, ...] = ("consent", "legitimate_interest", "contract")


@dataclass(frozen=True, slots=True)
class Purpose:
    """A reason to use data, its legal basis and the wording shown to marketers."""

    name: str
    legal_basis: str
    description: str


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``max`` sends per ``per_days`` days on one channel."""

    max: int
    per_days: int


@lru_cache(maxsize=MEMO_SIZE)
def time_zone(name: str) -> tzinfo | None:
    """The IANA time zone ``name`` (``Europe/Berlin``), or None if it is not one.

    Never raises: a malformed name, or one missing from the time zone database
    (the system's, or the ``tzdata`` package's; slim systems may have neither),
    gives None. ``UTC`` always resolves. Memoized with a bound, since names may
    come from events.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # Without any time zone database, UTC is still known.
        return UTC if name == "UTC" else None


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local times, in the subject's time zone, when ``channels`` stay silent.

    Quiet from ``start`` (included) until ``end`` (excluded); a window whose
    ``end`` is earlier than its ``start`` wraps midnight (21:00 to 08:00).
    ``default_timezone`` applies to subjects whose time zone is unknown or
    not a valid IANA name; :func:`time_zone` resolves it.
    """

    start: time
    end: time
    channels: frozenset[str]
    default_timezone: str = "UTC"

    def applies_to(self, channel: str) -> bool:
        return channel in self.channels

    def quiet_at(self, local: time) -> bool:
        """Whether the local wall-clock time ``local`` is inside the window."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


MERGE_POLICIES = ("most_restrictive", "latest")


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    """How long consent lasts, which notices it must be given under, how identities merge.

    Consent captured more than ``max_age_days`` ago, or under a notice in
    ``superseded_notices``, counts as unknown and the subject is due for
    re-consent. ``merge_policy`` says how the consents of an anonymous id and
    the user id it is linked to combine.
    """

    max_age_days: int = 396
    superseded_notices: frozenset[str] = frozenset()
    merge_policy: str = "most_restrictive"


@dataclass(frozen=True, slots=True)
class PurposeRules:
    """The contents of ``purposes.yaml``.

    The ``signals`` maps translate in-event consent vocabularies to purposes:
    Segment/RudderStack category names or CMP ids (``segment_categories``,
    keyed case-folded, with the presets and the purpose names merged in; see
    :mod:`cdp_plugin.rules.presets`), Google Consent Mode fields, and IAB TCF
    purpose ids. ``quiet_hours`` is None when the file sets none.
    """

    purposes: Mapping[str, Purpose]
    channels: tuple[str, ...]
    topics: tuple[str, ...]
    frequency_caps: Mapping[str, FrequencyCap]
    events: tuple[tuple[EventMatch, frozenset[str]], ...]
    destinations: Mapping[str, frozenset[str]]
    segment_categories: Mapping[str, frozenset[str]]
    consent_mode: Mapping[str, frozenset[str]] = field(default_factory=dict)
    tcf_purposes: Mapping[int, frozenset[str]] = field(default_factory=dict)
    consent: ConsentPolicy = ConsentPolicy()
    quiet_hours: QuietHours | None = None
    _memo: Callable[[str, str | None], frozenset[str]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_memo", memoized(self._union))

    def category_purposes(self, category: str) -> frozenset[str] | None:
        """The purposes an in-event consent category speaks for, matched
        case-insensitively; None when the rules do not know the category."""
        return self.segment_categories.get(category_key(category))

    def purposes_for(self, event_type: str, name: str | None) -> frozenset[str]:
        """The union of the purposes of every ``events`` entry the message matches."""
        return self._memo(event_type, name)

    def _union(self, event_type: str, name: str | None) -> frozenset[str]:
        found: set[str] = set()
        for match, purposes in self.events:
            if match.matches(event_type, name):
                found.update(purposes)
        return frozenset(found)
