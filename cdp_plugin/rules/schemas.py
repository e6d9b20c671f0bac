"""marshmallow schemas for the files under ``rules/``.

Each file schema rejects unknown keys, checks the references inside its file
(and, when given the purposes that ``purposes.yaml`` declares, across files) and
builds the frozen values of :mod:`cdp_plugin.rules.model`. Errors come back as
marshmallow's nested error dictionaries, keyed by the file's own keys and list
indexes, with messages written for the person editing the file.

Cross-reference checks read the original document rather than the partly
loaded result, so that one bad entry never shifts the index reported for
another and every problem in a file is found in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date, time
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)
from marshmallow.types import ErrorMessages

from cdp_plugin.rules.expressions import (
    CHANNEL_FEATURES,
    CORE_FEATURES,
    CompiledCondition,
    ExpressionError,
    compile_condition,
    count_features,
    feature_names,
)
from cdp_plugin.rules.matching import parse_field_path
from cdp_plugin.rules.model import (
    ACTION_PARAMETERS,
    CONSENT_MODELS,
    DEFAULT_PROFILING_PURPOSE,
    GENERALIZE_TARGETS,
    LEGAL_BASES,
    MERGE_POLICIES,
    REVIEW_STATUSES,
    Choice,
    ConsentPolicy,
    EventMatch,
    FeatureSettings,
    FieldRule,
    FrequencyCap,
    IntList,
    Jurisdiction,
    JurisdictionRules,
    MinimizationRule,
    MinimizationRules,
    ParamSpec,
    ParamValue,
    Purpose,
    PurposeRules,
    QuietHours,
    Season,
    SegmentRule,
    SegmentRules,
    time_zone,
)
from cdp_plugin.types import EVENT_TYPES

NECESSARY = "necessary"
DEFAULT_SEGMENT_PURPOSE = "personalization"
NAMED_MESSAGE_TYPES = ("track", "page", "screen")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_REGION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
_LOCAL_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_REQUIRED = "required key is missing"
_NULL = "must have a value"
_ACTIONS = ", ".join(ACTION_PARAMETERS)
_VERSION = validate.Equal(1, error="unsupported version; this release reads version 1")


def _messages(**overrides: str) -> ErrorMessages:
    """A field class's plain-language messages (marshmallow reads them from the class)."""
    return {"required": _REQUIRED, "null": _NULL, **overrides}


# -- fields with plain-language messages and no silent type coercion --------------------------


class _Str(fields.String):
    default_error_messages = _messages(invalid="must be a string")

    def __init__(self, **kwargs: Any) -> None:
        validators = [validate.Length(min=1, error="must not be empty")]
        extra = kwargs.pop("validate", None)
        if extra is not None:
            validators.append(extra)
        super().__init__(validate=validators, **kwargs)


class _Name(_Str):
    """A lower_snake_case identifier: purpose, channel, topic, counter or segment names."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=validate.Regexp(_NAME, error="must be lower_snake_case, e.g. email_engaged"),
            **kwargs,
        )


class _Code(_Str):
    """An ISO 3166 code; YAML reads an unquoted NO (Norway) as false, hence the hint."""

    default_error_messages = _messages(
        invalid='must be a string; quote codes such as "NO" that YAML reads as true/false'
    )


class _Int(fields.Integer):
    default_error_messages = _messages(invalid="must be an integer")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class _Bool(fields.Boolean):
    default_error_messages = _messages(invalid="must be true or false")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class _List(fields.List[Any]):
    default_error_messages = _messages(invalid="must be a list")


class _Nested(fields.Nested):
    default_error_messages = _messages()


class _Mapping(fields.Dict):
    """A mapping with user-chosen keys.

    marshmallow reports ``{key: {"key": [...], "value": {...}}}``; this reshapes it
    to ``{key: ...}`` so the error path is the path written in the file.
    """

    default_error_messages = _messages(invalid="must be a mapping")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]
        except ValidationError as error:
            if not isinstance(error.messages, dict):
                raise
            reshaped: dict[Any, Any] = {}
            for key, parts in error.messages.items():
                if not isinstance(parts, dict):
                    reshaped[key] = parts
                    continue
                value_errors = parts.get("value")
                key_errors = parts.get("key")
                if key_errors is None:
                    reshaped[key] = value_errors
                elif value_errors is None:
                    reshaped[key] = key_errors
                elif isinstance(value_errors, dict):
                    reshaped[key] = {**value_errors, "_schema": key_errors}
                else:
                    reshaped[key] = [*key_errors, *value_errors]
            raise ValidationError(reshaped, valid_data=error.valid_data) from None


class _LocalTime(fields.Field[time]):
    """A wall-clock time ``"HH:MM"``; YAML reads an unquoted 21:00 as a number, hence the hint."""

    default_error_messages = _messages(
        invalid='must be a time "HH:MM" in quotes, e.g. "21:00"; unquoted, YAML reads a number',
        format='must be a time "HH:MM" from "00:00" to "23:59", e.g. "21:00"',
    )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> time:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        found = _LOCAL_TIME.fullmatch(value)
        if found is None:
            raise self.make_error("format")
        return time(int(found[1]), int(found[2]))


def _known_time_zone(name: str) -> None:
    if time_zone(name) is None:
        raise ValidationError(
            f"unknown time zone '{name}'; use an IANA name such as Europe/Berlin "
            "(the system's time zone database or the tzdata package must have it)"
        )


class _FieldPath(_Str):
    """A dotted field path key, checked with :func:`parse_field_path`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        path: str = super()._deserialize(value, attr, data, **kwargs)
        try:
            parse_field_path(path)
        except ValueError as error:
            raise ValidationError(str(error)) from None
        return path


class _FieldAction(fields.Field[tuple[str, Mapping[str, ParamValue]]]):
    """``keep`` or ``{action: truncate, ipv4_prefix: 24}``, loaded as (action, the
    parameters that apply, with defaults)."""

    default_error_messages = _messages()

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> tuple[str, Mapping[str, ParamValue]]:
        if isinstance(value, str):
            action, params, where = value, {}, None
        elif isinstance(value, dict):
            if "action" not in value:
                raise ValidationError({"action": [_REQUIRED]})
            action = value["action"]
            params = {key: item for key, item in value.items() if key != "action"}
            where = "action"
            if not isinstance(action, str):
                raise ValidationError({"action": ["must be a string"]})
        else:
            raise ValidationError("must be an action name, or a mapping with 'action:'")
        spec = ACTION_PARAMETERS.get(action)
        if spec is None:
            message = f"unknown action '{action}'; expected one of {_ACTIONS}"
            raise ValidationError({where: [message]} if where else message)
        problems: dict[Any, list[str]] = {}
        for name, given in params.items():
            limits = spec.get(name) if isinstance(name, str) else None
            if not spec:
                problems[name] = [f"'{action}' takes no parameters"]
            elif limits is None:
                problems[name] = [f"unknown parameter; '{action}' takes {', '.join(spec)}"]
            else:
                problem = _parameter_problem(limits, given)
                if problem is not None:
                    problems[name] = [problem]
        applicable = _applicable_parameters(action, params, problems)
        if problems:
            raise ValidationError(problems)
        resolved: dict[str, ParamValue] = {}
        for name in applicable:
            given = params[name] if name in params else _default(spec[name])
            if given is not None:  # a missing required parameter was reported above
                resolved[name] = tuple(given) if isinstance(given, list | tuple) else given
        return action, MappingProxyType(resolved)


def _default(spec: ParamSpec) -> ParamValue | None:
    return None if isinstance(spec, Choice) else spec.default


def _parameter_problem(spec: ParamSpec, given: Any) -> str | None:
    """What is wrong with one parameter value, or None."""
    if isinstance(spec, Choice):
        if isinstance(given, str) and given in spec.options:
            return None
        return f"must be one of {', '.join(spec.options)}"
    if isinstance(spec, IntList):
        fits = (isinstance(given, list) and given
                and all(type(item) is int and spec.low <= item <= spec.high for item in given)
                and all(low < high for low, high in pairwise(given)))
        return None if fits else (f"must be a non-empty list of ascending integers from "
                                  f"{spec.low} to {spec.high}")
    if type(given) is not int or not spec.low <= given <= spec.high:
        return f"must be an integer from {spec.low} to {spec.high}"
    return None


def _applicable_parameters(action: str, params: Mapping[Any, Any],
                           problems: dict[Any, list[str]]) -> tuple[str, ...]:
    """The parameters this use of ``action`` takes; records missing and misplaced ones.

    Only ``generalize`` varies: ``to`` is required and picks which of the
    other parameters apply (:data:`GENERALIZE_TARGETS`).
    """
    spec = ACTION_PARAMETERS[action]
    if action != "generalize":
        return tuple(spec)
    target = params.get("to")
    if "to" not in params:
        problems["to"] = [_REQUIRED]
    if not isinstance(target, str) or target not in GENERALIZE_TARGETS:
        return ()
    applicable = ("to", *GENERALIZE_TARGETS[target])
    for name in params:
        if name in spec and name not in applicable:
            takers = [t for t, extra in GENERALIZE_TARGETS.items() if name in extra]
            problems.setdefault(name, []).append(f"applies only with to: {' or '.join(takers)}")
    for name in applicable:
        if name not in params and _default(spec[name]) is None:
            problems[name] = [f"required with to: {target}"]
    return applicable


# -- shared pieces ----------------------------------------------------------------------------


class _RulesSchema(Schema):
    class Meta:
        unknown = RAISE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error_messages["type"] = "must be a mapping"
        expected = ", ".join(field.data_key or name for name, field in self.load_fields.items())
        self.error_messages["unknown"] = f"unknown key; expected one of {expected}"


class _Problems:
    """Collects cross-reference problems as a nested marshmallow error dictionary."""

    def __init__(self) -> None:
        self.tree: dict[Any, Any] = {}

    def add(self, path: tuple[Any, ...], message: str) -> None:
        node = self.tree
        for key in path:
            node = node.setdefault(key, {})
        node.setdefault("_schema", []).append(message)

    def raise_if_any(self) -> None:
        if self.tree:
            raise ValidationError(self.tree)


def _as_dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _check_purposes(
    problems: _Problems, path: tuple[Any, ...], names: Any, defined: Collection[str]
) -> None:
    """Report each string in the list ``names`` that is not a defined purpose."""
    for index, name in enumerate(_as_list(names)):
        if isinstance(name, str) and name not in defined:
            problems.add((*path, index), _undefined_purpose(name, defined))


def _undefined_purpose(name: str, defined: Collection[str]) -> str:
    return f"undefined purpose '{name}'; defined: {', '.join(sorted(defined)) or 'none'}"


def _check_unique(
    problems: _Problems, path: tuple[Any, ...], items: Any, what: str, key: str | None = None
) -> None:
    """Report repeats in the list ``items``, or in the ``key`` of each of its mappings."""
    seen: dict[Any, int] = {}
    for index, item in enumerate(_as_list(items)):
        value = _as_dict(item).get(key) if key is not None else item
        if not isinstance(value, str):
            continue
        if value in seen:
            where = (*path, index, key) if key is not None else (*path, index)
            problems.add(where, f"duplicate {what} '{value}' (also at index {seen[value]})")
        else:
            seen[value] = index


class EventMatchSchema(_RulesSchema):
    """``{type: track, event: "Order *"}``; both keys optional, ``{}`` matches every message."""

    event_type = _Str(
        data_key="type",
        load_default=None,
        validate=validate.OneOf(sorted(EVENT_TYPES), error="must be one of {choices}"),
    )
    event = _Str(load_default=None)

    @validates_schema
    def _event_needs_a_name(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["event"] is not None and data["event_type"] not in (None, *NAMED_MESSAGE_TYPES):
            raise ValidationError(
                "only track, page and screen messages have a name to match", "event"
            )

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> EventMatch:
        return EventMatch(type=data["event_type"], event=data["event"])


# -- purposes.yaml ----------------------------------------------------------------------------


class PurposeSchema(_RulesSchema):
    legal_basis = _Str(
        required=True,
        validate=validate.OneOf(LEGAL_BASES, error="must be one of {choices}"),
    )
    description = _Str(required=True)


class FrequencyCapSchema(_RulesSchema):
    max = _Int(required=True, validate=validate.Range(min=0, error="must be 0 or more"))
    per_days = _Int(required=True, validate=validate.Range(min=1, error="must be 1 or more"))

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> FrequencyCap:
        return FrequencyCap(max=data["max"], per_days=data["per_days"])


class EventPurposesSchema(_RulesSchema):
    match = _Nested(EventMatchSchema, required=True)
    purposes = _List(_Str(), required=True)


class SignalsSchema(_RulesSchema):
    segment_categories = _Mapping(keys=_Str(), values=_List(_Str()), load_default=dict)
    consent_mode = _Mapping(keys=_Str(), values=_List(_Str()), load_default=dict)
    tcf_purposes = _Mapping(keys=_Int(validate=validate.Range(min=1, max=24)),
                            values=_List(_Str()), load_default=dict)


class ConsentPolicySchema(_RulesSchema):
    max_age_days = _Int(validate=validate.Range(min=1), load_default=396)
    superseded_notices = _List(_Str(), load_default=list)
    merge_policy = _Str(validate=validate.OneOf(MERGE_POLICIES), load_default="most_restrictive")

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> ConsentPolicy:
        return ConsentPolicy(data["max_age_days"], frozenset(data["superseded_notices"]),
                             data["merge_policy"])


class QuietHoursSchema(_RulesSchema):
    start = _LocalTime(required=True)
    end = _LocalTime(required=True)
    channels = _List(
        _Name(),
        load_default=None,
        allow_none=False,
        validate=validate.Length(
            min=1, error="must list at least one channel; leave it out to cover every channel"
        ),
    )
    default_timezone = _Str(load_default="UTC", validate=_known_time_zone)

    @validates_schema
    def _window_is_not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["start"] == data["end"]:
            raise ValidationError("must differ from start", "end")


class PurposesFileSchema(_RulesSchema):
    """``purposes.yaml``: purposes, channels, topics, caps, quiet hours, event and
    destination tagging."""

    version = _Int(required=True, validate=_VERSION)
    purposes = _Mapping(keys=_Name(), values=_Nested(PurposeSchema), required=True)
    channels = _List(_Name(), required=True)
    topics = _List(_Name(), load_default=list)
    frequency_caps = _Mapping(keys=_Str(), values=_Nested(FrequencyCapSchema), load_default=dict)
    events = _List(_Nested(EventPurposesSchema), required=True)
    destinations = _Mapping(keys=_Str(), values=_List(_Str()), load_default=dict)
    signals = _Nested(SignalsSchema, load_default=dict)
    consent = _Nested(ConsentPolicySchema, load_default=dict)
    quiet_hours = _Nested(QuietHoursSchema, load_default=None, allow_none=False)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _check_references(self, data: Any, original: Any, **kwargs: Any) -> None:
        raw = _as_dict(original)
        problems = _Problems()
        if "purposes" in raw:
            defined = {name for name in _as_dict(raw["purposes"]) if isinstance(name, str)}
            if NECESSARY not in defined:
                problems.add(("purposes",), f"the '{NECESSARY}' purpose must be defined")
            for index, entry in enumerate(_as_list(raw.get("events"))):
                _check_purposes(
                    problems,
                    ("events", index, "purposes"),
                    _as_dict(entry).get("purposes"),
                    defined,
                )
            for name, served in _as_dict(raw.get("destinations")).items():
                _check_purposes(problems, ("destinations", name), served, defined)
            signals = _as_dict(raw.get("signals"))
            for vocabulary in ("segment_categories", "consent_mode", "tcf_purposes"):
                for name, mapped in _as_dict(signals.get(vocabulary)).items():
                    _check_purposes(problems, ("signals", vocabulary, name), mapped, defined)
        channels = raw.get("channels")
        quiet = _as_list(_as_dict(raw.get("quiet_hours")).get("channels"))
        if isinstance(channels, list):
            for channel in _as_dict(raw.get("frequency_caps")):
                if channel not in channels:
                    message = f"unknown channel '{channel}'; list it under channels"
                    problems.add(("frequency_caps", channel), message)
            for index, channel in enumerate(quiet):
                if isinstance(channel, str) and channel not in channels:
                    message = f"unknown channel '{channel}'; list it under channels"
                    problems.add(("quiet_hours", "channels", index), message)
        _check_unique(problems, ("channels",), channels, "channel")
        _check_unique(problems, ("quiet_hours", "channels"), quiet, "channel")
        _check_unique(problems, ("topics",), raw.get("topics"), "topic")
        problems.raise_if_any()

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> PurposeRules:
        signals = data["signals"]

        def purposes_by(vocabulary: str) -> MappingProxyType[Any, frozenset[str]]:
            mapping = signals.get(vocabulary, {})
            return MappingProxyType({key: frozenset(value) for key, value in mapping.items()})

        consent = data["consent"]
        return PurposeRules(
            purposes=MappingProxyType(
                {name: Purpose(name, **spec) for name, spec in data["purposes"].items()}
            ),
            channels=tuple(data["channels"]),
            topics=tuple(data["topics"]),
            frequency_caps=MappingProxyType(dict(data["frequency_caps"])),
            events=tuple(
                (entry["match"], frozenset(entry["purposes"])) for entry in data["events"]
            ),
            destinations=MappingProxyType(
                {name: frozenset(served) for name, served in data["destinations"].items()}
            ),
            segment_categories=purposes_by("segment_categories"),
            consent_mode=purposes_by("consent_mode"),
            tcf_purposes=purposes_by("tcf_purposes"),
            consent=consent if isinstance(consent, ConsentPolicy) else ConsentPolicy(),
            quiet_hours=_quiet_hours(data["quiet_hours"], data["channels"]),
        )


def _quiet_hours(spec: dict[str, Any] | None, channels: list[str]) -> QuietHours | None:
    """The loaded ``quiet_hours`` section; without ``channels`` it covers every channel."""
    if spec is None:
        return None
    return QuietHours(
        start=spec["start"],
        end=spec["end"],
        channels=frozenset(spec["channels"] if spec["channels"] is not None else channels),
        default_timezone=spec["default_timezone"],
    )


# -- jurisdictions.yaml -----------------------------------------------------------------------


class RegimeSchema(_RulesSchema):
    model = _Str(
        required=True, validate=validate.OneOf(CONSENT_MODELS, error="must be one of {choices}")
    )
    honours_gpc = _Bool(required=True)
    countries = _List(
        _Code(
            validate=validate.Regexp(_COUNTRY, error="must be an ISO 3166-1 alpha-2 code, e.g. DE")
        ),
        load_default=list,
    )
    regions = _List(
        _Code(validate=validate.Regexp(_REGION, error="must be an ISO 3166-2 code, e.g. US-CA")),
        load_default=list,
    )


class JurisdictionsFileSchema(_RulesSchema):
    """``jurisdictions.yaml``: privacy regimes by country and region, and the fallback."""

    version = _Int(required=True, validate=_VERSION)
    regimes = _Mapping(
        keys=_Str(),
        values=_Nested(RegimeSchema),
        required=True,
        validate=validate.Length(min=1, error="must define at least one regime"),
    )
    default = _Str(required=True)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _check_references(self, data: Any, original: Any, **kwargs: Any) -> None:
        raw = _as_dict(original)
        problems = _Problems()
        regimes = _as_dict(raw.get("regimes"))
        default = raw.get("default")
        if isinstance(default, str) and default and "regimes" in raw and default not in regimes:
            problems.add(
                ("default",), f"unknown regime '{default}'; defined: {', '.join(map(str, regimes))}"
            )
        for kind in ("countries", "regions"):
            owner: dict[str, Any] = {}
            for name, regime in regimes.items():
                for index, code in enumerate(_as_list(_as_dict(regime).get(kind))):
                    if not isinstance(code, str):
                        continue
                    if code in owner:
                        problems.add(
                            ("regimes", name, kind, index),
                            f"'{code}' is already listed under regimes.{owner[code]}",
                        )
                    else:
                        owner[code] = name
        problems.raise_if_any()

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> JurisdictionRules:
        regimes = {
            name: Jurisdiction(
                name=name,
                model=spec["model"],
                honours_gpc=spec["honours_gpc"],
                countries=frozenset(spec["countries"]),
                regions=frozenset(spec["regions"]),
            )
            for name, spec in data["regimes"].items()
        }
        return JurisdictionRules(regimes=MappingProxyType(regimes), default=data["default"])


# -- minimization.yaml ------------------------------------------------------------------------


class MinimizationRuleSchema(_RulesSchema):
    name = _Name(required=True)
    match = _Nested(EventMatchSchema, required=True)
    allowlist = _Bool(load_default=True)
    destinations = _List(
        _Str(),
        load_default=list,
        validate=validate.Length(
            min=1, error="must list at least one destination; leave it out to shape every payload"
        ),
    )
    purposes = _Mapping(
        keys=_Str(),
        values=_Mapping(keys=_FieldPath(), values=_FieldAction()),
        required=True,
    )

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> MinimizationRule:
        purposes = {
            purpose: tuple(
                FieldRule(path, action, params) for path, (action, params) in paths.items()
            )
            for purpose, paths in data["purposes"].items()
        }
        return MinimizationRule(
            name=data["name"],
            match=data["match"],
            purposes=MappingProxyType(purposes),
            allowlist=data["allowlist"],
            destinations=frozenset(data["destinations"]),
        )


class MinimizationFileSchema(_RulesSchema):
    """``minimization.yaml``: per message kind, the fields each purpose needs.

    ``known_purposes`` and ``known_destinations`` (from ``purposes.yaml``)
    enable the cross-file checks; ``None`` skips one, e.g. when that file is
    itself invalid.
    """

    version = _Int(required=True, validate=_VERSION)
    rules = _List(_Nested(MinimizationRuleSchema), required=True)

    def __init__(
        self,
        known_purposes: Collection[str] | None = None,
        known_destinations: Collection[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.known_purposes = known_purposes
        self.known_destinations = known_destinations

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _check_references(self, data: Any, original: Any, **kwargs: Any) -> None:
        rules = _as_list(_as_dict(original).get("rules"))
        problems = _Problems()
        _check_unique(problems, ("rules",), rules, "rule name", key="name")
        if self.known_purposes is not None:
            for index, rule in enumerate(rules):
                for purpose in _as_dict(_as_dict(rule).get("purposes")):
                    if isinstance(purpose, str) and purpose not in self.known_purposes:
                        problems.add(
                            ("rules", index, "purposes", purpose),
                            _undefined_purpose(purpose, self.known_purposes),
                        )
        for index, rule in enumerate(rules):
            path = ("rules", index, "destinations")
            named = _as_dict(rule).get("destinations")
            _check_unique(problems, path, named, "destination")
            if self.known_destinations is None:
                continue
            defined = ", ".join(sorted(self.known_destinations)) or "none"
            for position, name in enumerate(_as_list(named)):
                if isinstance(name, str) and name and name not in self.known_destinations:
                    problems.add((*path, position),
                                 f"undefined destination '{name}'; purposes.yaml defines: "
                                 f"{defined}")
        problems.raise_if_any()

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> MinimizationRules:
        return MinimizationRules(rules=tuple(data["rules"]))


# -- segments.yaml ----------------------------------------------------------------------------

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
