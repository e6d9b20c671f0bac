"""The contents of ``segments.yaml``: behaviour counters, feature settings and
segments with their governance metadata."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cdp_plugin.rules.expressions import CompiledCondition
from cdp_plugin.rules.matching import compile_glob
from cdp_plugin.rules.model.common import EventMatch, memoized

REVIEW_STATUSES: tuple[str, ...] = ("draft", "in_review", "approved", "retired")

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
        object.__setattr__(self, "_memo", memoized(self._select))

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
