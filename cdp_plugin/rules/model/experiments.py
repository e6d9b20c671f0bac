"""The contents of ``experiments.yaml``: experiments with their variants, holdout,
eligibility, metrics and governance metadata.

An experiment assigns only while it is ``approved`` (review) and ``running``
(status) and the time asked about lies in ``[start, end)``; see
:meth:`Experiment.running_at`. Everything here is built once at load time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from cdp_plugin.rules.expressions import CompiledCondition
from cdp_plugin.rules.model.common import EventMatch, memoized

EXPERIMENT_STATUSES: tuple[str, ...] = ("planned", "running", "paused", "completed")
"""An experiment's lifecycle; only ``running`` ones assign."""

ASSIGNING_REVIEW_STATUS = "approved"
"""The only review status under which an experiment assigns subjects."""

HOLDOUT = "holdout"
"""The arm of subjects kept out of the experiment's sends; no variant may take this name."""

AttributeValue = str | int | float | bool


def _no_attributes() -> Mapping[str, AttributeValue]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm that is sent something: its share of the non-holdout subjects is
    ``weight`` over the sum of the weights; ``attributes`` (copy, timing, channel,
    visual) are handed to the CDP's sender as they are."""

    name: str
    weight: float
    attributes: Mapping[str, AttributeValue] = field(default_factory=_no_attributes)


@dataclass(frozen=True, slots=True)
class Metric:
    """A conversion: a message matching ``match`` within ``within_days`` of the
    subject's first exposure. ``kind`` ``once`` counts a subject once;
    ``revenue`` sums the number at the dotted ``revenue_path`` of the message
    (e.g. ``properties.revenue``). ``name`` labels a guardrail."""

    match: EventMatch
    within_days: int
    kind: Literal["once", "revenue"]
    revenue_path: tuple[str, ...] = ()
    name: str = "primary"


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Who may be assigned, beyond consent to the purpose: members of
    ``segment``, or subjects whose features satisfy ``condition`` (in the
    segment condition language, compiled at load), or everyone if neither."""

    segment: str | None = None
    condition: CompiledCondition | None = None


@dataclass(frozen=True, slots=True)
class Experiment:
    """A consent-aware experiment on the contacts the activation gate allows.

    ``holdout`` (0 <= share < 1) of the eligible subjects are never contacted
    for it; the rest are split over ``variants`` by weight. ``control`` names
    the variant the others are compared with. ``salt`` (the name unless the
    file says otherwise) keys the assignment hash, so a new salt reshuffles.
    """

    name: str
    hypothesis: str
    owner: str
    review_status: str
    status: str
    purpose: str
    variants: tuple[Variant, ...]
    control: str
    holdout: float
    metric: Metric
    minimum_detectable_effect: float
    start: datetime | None = None
    end: datetime | None = None
    eligibility: Eligibility = Eligibility()
    guardrails: tuple[Metric, ...] = ()
    salt: str = ""

    def __post_init__(self) -> None:
        if not self.salt:
            object.__setattr__(self, "salt", self.name)

    def running_at(self, at: datetime) -> bool:
        """Whether the experiment assigns at ``at``: approved, running, and within its dates."""
        return (self.review_status == ASSIGNING_REVIEW_STATUS and self.status == "running"
                and (self.start is None or self.start <= at)
                and (self.end is None or at < self.end))

    def variant(self, name: str) -> Variant | None:
        """The variant called ``name``, or None."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        return None

    @property
    def arms(self) -> tuple[str, ...]:
        """Every arm a subject can be in: the variants in file order, then ``holdout``."""
        return (*(v.name for v in self.variants), HOLDOUT)

    def expected_shares(self) -> dict[str, float]:
        """The share of assigned subjects each arm should receive, holdout included."""
        total = sum(v.weight for v in self.variants)
        shares = {v.name: (1.0 - self.holdout) * v.weight / total for v in self.variants}
        shares[HOLDOUT] = self.holdout
        return shares


@dataclass(frozen=True, slots=True)
class ExperimentRules:
    """The contents of ``experiments.yaml`` (empty when the file is absent), in file order."""

    experiments: tuple[Experiment, ...] = ()
    _by_name: Mapping[str, Experiment] = field(init=False, repr=False, compare=False)
    _memo: Callable[[str, str | None], tuple[Experiment, ...]] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name",
                           MappingProxyType({e.name: e for e in self.experiments}))
        object.__setattr__(self, "_memo", memoized(self._converting))

    def get(self, name: str) -> Experiment | None:
        """The experiment called ``name``, or None."""
        return self._by_name.get(name)

    def converting(self, event_type: str, name: str | None) -> tuple[Experiment, ...]:
        """The experiments whose primary metric a message of this type and name matches."""
        return self._memo(event_type, name)

    def _converting(self, event_type: str, name: str | None) -> tuple[Experiment, ...]:
        return tuple(e for e in self.experiments if e.metric.match.matches(event_type, name))
