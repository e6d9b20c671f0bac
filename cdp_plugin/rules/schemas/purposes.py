"""The schema of ``purposes.yaml``."""

from __future__ import annotations

import re
from datetime import time
from types import MappingProxyType
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from cdp_plugin.rules.model import (
    LEGAL_BASES,
    MERGE_POLICIES,
    ConsentPolicy,
    FrequencyCap,
    Purpose,
    PurposeRules,
    QuietHours,
    time_zone,
)
from cdp_plugin.rules.presets import PRESETS, category_key, category_map
from cdp_plugin.rules.schemas.common import (
    _VERSION,
    EventMatchSchema,
    _as_dict,
    _as_list,
    _check_purposes,
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
)

NECESSARY = "necessary"

_LOCAL_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")

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
    presets = _List(_Str(validate=validate.OneOf(sorted(PRESETS), error="unknown preset "
                                                 "'{input}'; one of {choices}")),
                    load_default=list)
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
            _check_case_clashes(problems, _as_dict(signals.get("segment_categories")))
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
            segment_categories=MappingProxyType(category_map(
                list(data["purposes"]), signals.get("presets", []),
                signals.get("segment_categories", {}))),
            consent_mode=purposes_by("consent_mode"),
            tcf_purposes=purposes_by("tcf_purposes"),
            consent=consent if isinstance(consent, ConsentPolicy) else ConsentPolicy(),
            quiet_hours=_quiet_hours(data["quiet_hours"], data["channels"]),
        )

def _check_case_clashes(problems: _Problems, categories: dict[Any, Any]) -> None:
    """Category ids match case-insensitively, so two spellings of one id must agree."""
    seen: dict[str, tuple[str, Any]] = {}
    for name, mapped in categories.items():
        if not isinstance(name, str):
            continue
        key = category_key(name)
        if key in seen and sorted(_as_list(seen[key][1])) != sorted(_as_list(mapped)):
            problems.add(("signals", "segment_categories", name),
                         f"same category as '{seen[key][0]}' (ids match case-insensitively) "
                         "but mapped to other purposes")
        seen.setdefault(key, (name, mapped))


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
