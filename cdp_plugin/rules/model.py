"""The loaded rules: frozen values built once from the files under ``rules/``.

Everything here is immutable and already validated, so the per-event code that
reads it never re-checks the files. Lookups that run for every event
(:meth:`PurposeRules.purposes_for`, :meth:`MinimizationRules.matching`,
:meth:`SegmentRules.counts_for`) are memoized per ``(event type, name)`` in a
bounded least-recently-used cache, because event names are chosen by senders and
their number is unbounded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, time, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdp_plugin.rules.expressions import CompiledCondition
from cdp_plugin.rules.matching import compile_glob

if TYPE_CHECKING:
    from cdp_plugin.rules.retention import RetentionRules

MEMO_SIZE = 4096
"""How many distinct (event type, name) pairs each per-event lookup remembers."""

LEGAL_BASES: tuple[str, ...] = ("consent", "legitimate_interest", "contract")
CONSENT_MODELS: tuple[str, ...] = ("opt_in", "opt_out")
REVIEW_STATUSES: tuple[str, ...] = ("draft", "in_review", "approved", "retired")


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

_T = TypeVar("_T")


def _memoized(compute: Callable[[str, str | None], _T]) -> Callable[[str, str | None], _T]:
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
    Segment/RudderStack/OneTrust category names or ids, Google Consent Mode
    fields, and IAB TCF purpose ids. ``quiet_hours`` is None when the file
    sets none.
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
        object.__setattr__(self, "_memo", _memoized(self._union))

    def purposes_for(self, event_type: str, name: str | None) -> frozenset[str]:
        """The union of the purposes of every ``events`` entry the message matches."""
        return self._memo(event_type, name)

    def _union(self, event_type: str, name: str | None) -> frozenset[str]:
        found: set[str] = set()
        for match, purposes in self.events:
            if match.matches(event_type, name):
                found.update(purposes)
        return frozenset(found)


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A privacy regime: whether consent is opt-in or opt-out, and where it applies."""

    name: str
    model: str
    honours_gpc: bool
    countries: frozenset[str]
    regions: frozenset[str]


@dataclass(frozen=True, slots=True)
class JurisdictionRules:
    """The contents of ``jurisdictions.yaml``.

    ``default`` names the regime applied when the location is unknown or not
    listed; it is meant to be the strictest one.
    """

    regimes: Mapping[str, Jurisdiction]
    default: str
    _by_region: Mapping[str, Jurisdiction] = field(init=False, repr=False, compare=False)
    _by_country: Mapping[str, Jurisdiction] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.default not in self.regimes:
            raise ValueError(f"default regime {self.default!r} is not defined")
        by_region = {code: regime for regime in self.regimes.values() for code in regime.regions}
        by_country = {code: regime for regime in self.regimes.values() for code in regime.countries}
        object.__setattr__(self, "_by_region", by_region)
        object.__setattr__(self, "_by_country", by_country)

    def resolve(self, country: str | None, region: str | None) -> Jurisdiction:
        """The regime for a location: the region's first, then the country's, else the default.

        ``country`` is an ISO 3166-1 alpha-2 code and ``region`` an ISO 3166-2 code
        (``US-CA``); a bare subdivision (``CA``) is read relative to ``country``.
        Codes are compared case-insensitively. Never raises for unknown codes.
        """
        country_code = country.strip().upper() if country else ""
        if region:
            region_code = region.strip().upper()
            if "-" not in region_code and country_code:
                region_code = f"{country_code}-{region_code}"
            found = self._by_region.get(region_code)
            if found is not None:
                return found
        found = self._by_country.get(country_code)
        return found if found is not None else self.regimes[self.default]


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
        object.__setattr__(self, "_memo", _memoized(self._select))

    def matching(self, event_type: str, name: str | None) -> tuple[MinimizationRule, ...]:
        """The rules that apply to a message, in file order."""
        return self._memo(event_type, name)

    def _select(self, event_type: str, name: str | None) -> tuple[MinimizationRule, ...]:
        return tuple(rule for rule in self.rules if rule.match.matches(event_type, name))


DEFAULT_PROFILING_PURPOSE = "personalization"
"""The purpose that justifies keeping behavioural features at all, unless ``segments.yaml``
names another."""


@dataclass(frozen=True, slots=True)
class Season:
    """A shopping season that recurs every year from ``start`` to ``end``, both
    (month, day) pairs included; an ``end`` before ``start`` wraps the new year."""

    name: str
    start: tuple[int, int]
    end: tuple[int, int]

    def contains(self, month: int, day: int) -> bool:
        """Whether the calendar day ``month``/``day`` falls in the season."""
        key = (month, day)
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end


@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """What counted behaviours mean beyond their counts: the ``features`` section.

    Each counter name here comes from ``counts``. ``purchase`` events are
    orders (spend, cadence, accessories, seasons, closing the cart); ``cart_*``
    events open, shrink or touch the cart; ``categories`` events have their
    product categories tallied; ``views`` events are pages or screens (session
    depth), whose ``view_seconds`` properties say how long they were looked at.
    ``channels`` maps an engagement channel to the counters that show activity
    on it. A new session starts after ``session_gap_minutes`` without events.
    """

    profiling_purpose: str = DEFAULT_PROFILING_PURPOSE
    purchase: str | None = None
    cart_add: frozenset[str] = frozenset()
    cart_remove: frozenset[str] = frozenset()
    cart_activity: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    accessory_categories: tuple[str, ...] = ()
    views: frozenset[str] = frozenset()
    view_seconds: tuple[str, ...] = ()
    session_gap_minutes: int = 30
    channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    seasons: tuple[Season, ...] = ()
    _accessory: tuple[Callable[[str], bool], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        globs = tuple(compile_glob(pattern) for pattern in self.accessory_categories)
        object.__setattr__(self, "_accessory", globs)

    def is_accessory(self, category: str) -> bool:
        """Whether a product category is an accessory (matches ``accessory_categories``)."""
        return any(matches(category) for matches in self._accessory)


@dataclass(frozen=True, slots=True)
class SegmentRule:
    """A behavioural segment: its condition and its governance metadata.

    Only ``approved`` segments whose audience reaches ``min_size`` are meant to
    be activated; the others run in shadow mode. ``requires`` holds every
    purpose a subject must have consented to for membership: the profiling
    purpose, the segment's own, and those that keep the features it reads.
    """

    name: str
    description: str
    purpose: str
    owner: str
    review_status: str
    min_size: int
    when: str
    condition: CompiledCondition
    requires: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SegmentRules:
    """The contents of ``segments.yaml``: behaviour counters, feature settings and
    segments, in file order.

    ``count_purposes`` maps each counter to the purpose its features are kept
    for (the profiling purpose unless the file names another).
    """

    counts: Mapping[str, EventMatch]
    segments: tuple[SegmentRule, ...]
    _memo: Callable[[str, str | None], tuple[str, ...]] = field(
        init=False, repr=False, compare=False
    )
    count_purposes: Mapping[str, str] = field(default_factory=dict)
    features: FeatureSettings = FeatureSettings()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_memo", _memoized(self._select))

    def counts_for(self, event_type: str, name: str | None) -> tuple[str, ...]:
        """The names of the counters a message increments, in file order."""
        return self._memo(event_type, name)

    def purpose_of(self, count: str) -> str:
        """The purpose that keeps counter ``count``'s features."""
        return self.count_purposes.get(count, self.features.profiling_purpose)

    @property
    def purposes(self) -> frozenset[str]:
        """Every purpose a feature or a segment depends on."""
        needed = {self.features.profiling_purpose, *self.count_purposes.values()}
        needed.update(purpose for rule in self.segments for purpose in rule.requires)
        return frozenset(needed)

    def _select(self, event_type: str, name: str | None) -> tuple[str, ...]:
        return tuple(
            count for count, match in self.counts.items() if match.matches(event_type, name)
        )


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rules file, loaded and cross-checked together.

    ``file_hashes`` maps each file name to the SHA-256 of its bytes; ``version``
    identifies the whole set (see :func:`cdp_plugin.rules.loader.load_rules`).
    """

    purposes: PurposeRules
    jurisdictions: JurisdictionRules
    minimization: MinimizationRules
    segments: SegmentRules
    directory: str
    file_hashes: Mapping[str, str]
    version: str
    retention: RetentionRules
