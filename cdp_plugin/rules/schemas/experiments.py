"""The schema of ``experiments.yaml``: experiments, their variants, holdout and metrics.

Cross-file references are checked against the purposes ``purposes.yaml``
declares and the segments and counters of ``segments.yaml`` (both read from
the parsed documents, so one broken file never hides the other's problems).
An eligibility ``when`` is compiled here, once, against the same features a
segment condition may read.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time
from types import MappingProxyType
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from cdp_plugin.rules.expressions import (
    CompiledCondition,
    ExpressionError,
    compile_condition,
    feature_names,
)
from cdp_plugin.rules.model import REVIEW_STATUSES
from cdp_plugin.rules.model.experiments import (
    EXPERIMENT_STATUSES,
    HOLDOUT,
    Eligibility,
    Experiment,
    ExperimentRules,
    Metric,
    Variant,
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

MAX_WINDOW_DAYS = 365


class _Number(fields.Field[float]):
    """An int or float (never a bool or a quoted number), loaded as a float."""

    default_error_messages = _messages(invalid="must be a number")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.make_error("invalid")
        return float(value)


class _Scalar(fields.Field[Any]):
    """A variant attribute value: a string, number or boolean."""

    default_error_messages = _messages(invalid="must be a string, number or true/false")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str | int | float | bool):
            raise self.make_error("invalid")
        return value


class _Moment(fields.Field[datetime]):
    """A time: an ISO-8601 timestamp with a zone (``2026-01-05T00:00:00Z``) or a day
    (``2026-01-05``, midnight UTC)."""

    default_error_messages = _messages(
        invalid='must be a day (2026-01-05) or a timestamp with a zone (2026-01-05T08:00:00Z)')

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise self.make_error("invalid") from None
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise self.make_error("invalid")
            return value.astimezone(UTC)
        if isinstance(value, date):
            return datetime.combine(value, time(0), tzinfo=UTC)
        raise self.make_error("invalid")


class VariantSchema(_RulesSchema):
    name = _Name(required=True)
    weight = _Number(load_default=1.0, validate=validate.Range(
        min=0, min_inclusive=False, error="must be more than 0"))
    attributes = _Mapping(keys=_Str(), values=_Scalar(), load_default=dict)

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> Variant:
        return Variant(data["name"], data["weight"], MappingProxyType(dict(data["attributes"])))


class MetricSchema(_RulesSchema):
    """``{match: {...}, within_days: 7, count: once}`` or ``{..., revenue: properties.revenue}``."""

    name = _Name(load_default="primary")
    match = _Nested(EventMatchSchema, required=True)
    within_days = _Int(required=True, validate=validate.Range(
        min=1, max=MAX_WINDOW_DAYS, error=f"must be from 1 to {MAX_WINDOW_DAYS} days"))
    count = _Str(load_default=None, validate=validate.OneOf(
        ["once"], error="must be once (or give revenue: <property path> instead)"))
    revenue = _Str(load_default=None)

    @validates_schema
    def _one_measure(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data["count"] is None) == (data["revenue"] is None):
            raise ValidationError("give exactly one of count: once or revenue: <property path>")
        path = data["revenue"]
        if path is not None and any(not part for part in path.split(".")):
            raise ValidationError("must be a dotted path such as properties.revenue", "revenue")

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> Metric:
        revenue = data["revenue"]
        return Metric(data["match"], data["within_days"],
                      "once" if revenue is None else "revenue",
                      tuple(revenue.split(".")) if revenue else (), data["name"])


class EligibilitySchema(_RulesSchema):
    segment = _Name(load_default=None)
    when = _Str(load_default=None)

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["segment"] is not None and data["when"] is not None:
            raise ValidationError("give a segment or a when condition, not both")


class ExperimentSchema(_RulesSchema):
    name = _Name(required=True)
    hypothesis = _Str(required=True)
    owner = _Str(required=True)
    review_status = _Str(required=True, validate=validate.OneOf(
        REVIEW_STATUSES, error="must be one of {choices}"))
    status = _Str(required=True, validate=validate.OneOf(
        EXPERIMENT_STATUSES, error="must be one of {choices}"))
    purpose = _Str(required=True)
    eligibility = _Nested(EligibilitySchema, load_default=None)
    salt = _Str(load_default=None)
    holdout = _Number(load_default=0.0, validate=validate.Range(
        min=0, max=1, max_inclusive=False, error="must be at least 0 and below 1"))
    control = _Name(required=True)
    variants = _List(_Nested(VariantSchema), required=True, validate=validate.Length(
        min=2, error="needs at least two variants: the control and one to compare"))
    metric = _Nested(MetricSchema, required=True)
    guardrails = _List(_Nested(MetricSchema), load_default=list)
    minimum_detectable_effect = _Number(required=True, validate=validate.Range(
        min=0, min_inclusive=False, error="must be more than 0 (a relative lift, e.g. 0.1)"))
    start = _Moment(load_default=None)
    end = _Moment(load_default=None)

    @validates_schema
    def _check_variants(self, data: dict[str, Any], **kwargs: Any) -> None:
        names = [v.name for v in data["variants"]]
        if HOLDOUT in names:
            raise ValidationError(f"'{HOLDOUT}' is the name of the holdout arm; "
                                  "call the variant something else", "variants")
        if data["control"] not in names:
            raise ValidationError(f"must name one of the variants: {', '.join(names)}",
                                  "control")
        start, end = data["start"], data["end"]
        if start is not None and end is not None and end <= start:
            raise ValidationError("must be after start", "end")


class ExperimentsFileSchema(_RulesSchema):
    """``experiments.yaml``. ``known_purposes`` are the purposes ``purposes.yaml``
    declares (None: cannot say, so not checked); ``segments_document`` is the
    parsed ``segments.yaml`` (None: not checked), whose segment names and
    counters an eligibility may refer to; ``extra_features`` as for segments."""

    version = _Int(required=True, validate=_VERSION)
    experiments = _List(_Nested(ExperimentSchema), load_default=list)

    def __init__(self, known_purposes: Collection[str] | None = None,
                 segments_document: Any = None, extra_features: Collection[str] = (),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.known_purposes = known_purposes
        self.segments_document = segments_document
        self.extra_features = frozenset(extra_features)
        self._conditions: dict[int, CompiledCondition] = {}

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _check_references(self, data: Any, original: Any, **kwargs: Any) -> None:
        experiments = [_as_dict(e) for e in _as_list(_as_dict(original).get("experiments"))]
        problems = _Problems()
        _check_unique(problems, ("experiments",), experiments, "experiment name", key="name")
        segments_doc = _as_dict(self.segments_document) if self.segments_document else None
        segments = None if segments_doc is None else {
            s.get("name") for s in map(_as_dict, _as_list(segments_doc.get("segments")))}
        counts = {} if segments_doc is None else {
            name: spec for name, spec in _as_dict(segments_doc.get("counts")).items()
            if isinstance(name, str)}
        known = feature_names(counts, self.extra_features)
        for index, experiment in enumerate(experiments):
            purpose = experiment.get("purpose")
            if (self.known_purposes is not None and isinstance(purpose, str)
                    and purpose not in self.known_purposes):
                problems.add(("experiments", index, "purpose"),
                             _undefined_purpose(purpose, self.known_purposes))
            _check_unique(problems, ("experiments", index, "variants"),
                          experiment.get("variants"), "variant name", key="name")
            eligibility = _as_dict(experiment.get("eligibility"))
            segment = eligibility.get("segment")
            if segments is not None and isinstance(segment, str) and segment not in segments:
                problems.add(("experiments", index, "eligibility", "segment"),
                             f"undefined segment '{segment}'; define it in segments.yaml")
            when = eligibility.get("when")
            if isinstance(when, str) and when:
                try:
                    self._conditions[index] = compile_condition(when, known)
                except ExpressionError as error:
                    problems.add(("experiments", index, "eligibility", "when"), str(error))
        problems.raise_if_any()

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> ExperimentRules:
        built = []
        for index, spec in enumerate(data["experiments"]):
            eligibility = spec["eligibility"] or {"segment": None, "when": None}
            built.append(Experiment(
                name=spec["name"], hypothesis=spec["hypothesis"], owner=spec["owner"],
                review_status=spec["review_status"], status=spec["status"],
                purpose=spec["purpose"], variants=tuple(spec["variants"]),
                control=spec["control"], holdout=spec["holdout"], metric=spec["metric"],
                minimum_detectable_effect=spec["minimum_detectable_effect"],
                start=spec["start"], end=spec["end"],
                eligibility=Eligibility(eligibility["segment"], self._conditions.get(index)),
                guardrails=tuple(spec["guardrails"]), salt=spec["salt"] or spec["name"]))
        return ExperimentRules(tuple(built))
