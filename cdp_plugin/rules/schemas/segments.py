"""The schema of ``segments.yaml``: counters, feature settings and segments."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date
from types import MappingProxyType
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from cdp_plugin.rules.expressions import (
    CHANNEL_FEATURES,
    CORE_FEATURES,
    CompiledCondition,
    ExpressionError,
    compile_condition,
    count_features,
    feature_names,
)
from cdp_plugin.rules.model import (
    DEFAULT_PROFILING_PURPOSE,
    REVIEW_STATUSES,
    EventMatch,
    FeatureSettings,
    Season,
    SegmentRule,
    SegmentRules,
)
from cdp_plugin.rules.schemas.common import (
    _VERSION,
    EventMatchSchema,
    _as_dict,
    _as_list,
    _check_unique,
    _Int,
    _List,
    _Mapping,
    _messages,
    _Name,
    _Nested,
    _Problems,
    _RulesSchema,
    _Str,
    _undefined_purpose,
)

DEFAULT_SEGMENT_PURPOSE = "personalization"

_MONTH_DAY = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_LEAP_YEAR = 2024

class _MonthDay(fields.Field[tuple[int, int]]):
    """A calendar day ``"MM-DD"``, loaded as (month, day)."""

    default_error_messages = _messages(invalid='must be a day "MM-DD" in quotes, e.g. "11-24"')

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> tuple[int, int]:
        found = _MONTH_DAY.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            raise self.make_error("invalid")
        month, day = int(found[1]), int(found[2])
        try:
            date(_LEAP_YEAR, month, day)
        except ValueError:
            raise ValidationError(f"month {month} has no day {day}") from None
        return month, day

class SeasonSchema(_RulesSchema):
    start = _MonthDay(data_key="from", required=True)
    end = _MonthDay(data_key="to", required=True)

class CartRolesSchema(_RulesSchema):
    add = _List(_Name(), load_default=list)
    remove = _List(_Name(), load_default=list)
    activity = _List(_Name(), load_default=list)

class FeaturesSchema(_RulesSchema):
    """The ``features`` section: what counted behaviours mean beyond their counts."""

    profiling_purpose = _Str(load_default=DEFAULT_PROFILING_PURPOSE)
    purchase = _Name(load_default=None)
    cart = _Nested(CartRolesSchema, load_default=dict)
    categories = _List(_Name(), load_default=list)
    accessory_categories = _List(_Str(), load_default=list)
    views = _List(_Name(), load_default=list)
    view_seconds = _List(_Str(), load_default=list)
    session_gap_minutes = _Int(
        load_default=30, validate=validate.Range(min=1, max=1440, error="must be from 1 to 1440")
    )
    channels = _Mapping(keys=_Name(), values=_List(_Name()), load_default=dict)
    seasons = _Mapping(keys=_Name(), values=_Nested(SeasonSchema), load_default=dict)

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> FeatureSettings:
        cart = data["cart"]
        return FeatureSettings(
            profiling_purpose=data["profiling_purpose"],
            purchase=data["purchase"],
            cart_add=frozenset(cart.get("add", ())),
            cart_remove=frozenset(cart.get("remove", ())),
            cart_activity=frozenset(cart.get("activity", ())),
            categories=frozenset(data["categories"]),
            accessory_categories=tuple(data["accessory_categories"]),
            views=frozenset(data["views"]),
            view_seconds=tuple(data["view_seconds"]),
            session_gap_minutes=data["session_gap_minutes"],
            channels=MappingProxyType(
                {name: tuple(counts) for name, counts in data["channels"].items()}
            ),
            seasons=tuple(
                Season(name, spec["start"], spec["end"]) for name, spec in data["seasons"].items()
            ),
        )

class CountSchema(EventMatchSchema):
    """A counter: the messages it counts and, optionally, the purpose its features are kept for."""

    purpose = _Str(load_default=None)

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> tuple[EventMatch, str | None]:
        return EventMatch(type=data["event_type"], event=data["event"]), data["purpose"]

class SegmentSchema(_RulesSchema):
    name = _Name(required=True)
    description = _Str(required=True)
    purpose = _Str(load_default=DEFAULT_SEGMENT_PURPOSE)
    owner = _Str(required=True)
    review_status = _Str(
        required=True,
        validate=validate.OneOf(REVIEW_STATUSES, error="must be one of {choices}"),
    )
    min_size = _Int(load_default=50, validate=validate.Range(min=1, error="must be 1 or more"))
    when = _Str(required=True)

_ROLES = ("purchase", "categories", "views")
_CART_ROLES = ("add", "remove", "activity")

class SegmentsFileSchema(_RulesSchema):
    """``segments.yaml``: behaviour counters, feature settings and the segments over them.

    Each ``when`` is compiled here, against the core features, three features
    per counter and ``extra_features``; ``known_purposes`` works as in
    :class:`MinimizationFileSchema`. Each segment's ``requires`` is its own
    purpose, the profiling purpose and the purposes of the counters whose
    features its condition reads.
    """

    version = _Int(required=True, validate=_VERSION)
    counts = _Mapping(keys=_Name(), values=_Nested(CountSchema), required=True)
    features = _Nested(FeaturesSchema, load_default=dict)
    segments = _List(_Nested(SegmentSchema), required=True)

    def __init__(
        self,
        known_purposes: Collection[str] | None = None,
        extra_features: Collection[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.known_purposes = known_purposes
        self.extra_features = frozenset(extra_features)
        self._conditions: dict[int, CompiledCondition] = {}

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _check_references(self, data: Any, original: Any, **kwargs: Any) -> None:
        raw = _as_dict(original)
        counts = {name: _as_dict(spec) for name, spec in _as_dict(raw.get("counts")).items()
                  if isinstance(name, str)}
        segments = [_as_dict(segment) for segment in _as_list(raw.get("segments"))]
        problems = _Problems()
        self._check_counts(problems, list(counts))
        features = _as_dict(raw.get("features"))
        profiling = features.get("profiling_purpose", DEFAULT_PROFILING_PURPOSE)
        self._check_purpose(problems, ("features", "profiling_purpose"), profiling)
        for name, spec in counts.items():
            self._check_purpose(problems, ("counts", name, "purpose"), spec.get("purpose"))
        _check_roles(problems, features, counts, profiling)
        _check_unique(problems, ("segments",), segments, "segment name", key="name")
        known = feature_names(counts, self.extra_features)
        for index, segment in enumerate(segments):
            purpose = segment.get("purpose", DEFAULT_SEGMENT_PURPOSE)
            self._check_purpose(problems, ("segments", index, "purpose"), purpose)
            when = segment.get("when")
            if isinstance(when, str) and when:
                try:
                    self._conditions[index] = compile_condition(when, known)
                except ExpressionError as error:
                    problems.add(("segments", index, "when"), str(error))
        problems.raise_if_any()

    def _check_purpose(self, problems: _Problems, path: tuple[Any, ...], purpose: Any) -> None:
        if (self.known_purposes is not None and isinstance(purpose, str)
                and purpose not in self.known_purposes):
            problems.add(path, _undefined_purpose(purpose, self.known_purposes))

    def _check_counts(self, problems: _Problems, counts: list[str]) -> None:
        """A counter's feature names must not shadow a core, extra or other counter feature."""
        taken = {name: "a core feature" for name in CORE_FEATURES}
        taken.update({name: "an extra feature" for name in self.extra_features})
        for count in counts:
            for derived in count_features(count):
                if derived in taken:
                    problems.add(
                        ("counts", count),
                        f"its feature '{derived}' clashes with {taken[derived]}; rename the count",
                    )
                else:
                    taken[derived] = f"the feature of count '{count}'"

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> SegmentRules:
        settings = data["features"]
        if not isinstance(settings, FeatureSettings):  # the section was left out
            settings = FeatureSettings()
        counts = {name: match for name, (match, _) in data["counts"].items()}
        purposes = {name: purpose or settings.profiling_purpose
                    for name, (_, purpose) in data["counts"].items()}
        # The purposes that keep the features a condition may read, beyond profiling.
        kept_for = {feature: {purposes[count]} for count in counts
                    for feature in count_features(count)}
        channels = {purposes.get(count, settings.profiling_purpose)
                    for named in settings.channels.values() for count in named}
        kept_for.update((feature, channels) for feature in CHANNEL_FEATURES)
        segments = []
        for index, segment in enumerate(data["segments"]):
            condition = self._conditions[index]
            requires = {settings.profiling_purpose, segment["purpose"]}
            for feature in condition.features:
                requires.update(kept_for.get(feature, ()))
            segments.append(SegmentRule(condition=condition, requires=frozenset(requires),
                                        **segment))
        return SegmentRules(counts=MappingProxyType(counts), segments=tuple(segments),
                            count_purposes=MappingProxyType(purposes), features=settings)

def _check_roles(problems: _Problems, features: dict[Any, Any], counts: Mapping[str, Any],
                 profiling: Any) -> None:
    """Every counter the ``features`` section names must exist; those that feed
    profiling features (all but ``channels``) must be kept for the profiling purpose."""
    named: list[tuple[tuple[Any, ...], Any, bool]] = []
    for role in _ROLES:
        value = features.get(role)
        items = value if isinstance(value, list) else [value] if value is not None else []
        path = ("features", role)
        named.extend(((*path, i) if isinstance(value, list) else path, item, True)
                     for i, item in enumerate(items))
    for role in _CART_ROLES:
        for i, item in enumerate(_as_list(_as_dict(features.get("cart")).get(role))):
            named.append((("features", "cart", role, i), item, True))
    for channel, items in _as_dict(features.get("channels")).items():
        named.extend((("features", "channels", channel, i), item, False)
                     for i, item in enumerate(_as_list(items)))
    for path, name, profiling_only in named:
        if not isinstance(name, str):
            continue
        if name not in counts:
            problems.add(path, f"unknown counter '{name}'; define it under counts")
            continue
        kept_for = counts[name].get("purpose", profiling)
        if profiling_only and isinstance(kept_for, str) and kept_for != profiling:
            problems.add(path, f"counter '{name}' is kept for '{kept_for}', but this role feeds "
                               f"features kept for '{profiling}'; use a counter kept for it")
