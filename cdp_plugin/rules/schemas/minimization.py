"""The schema of ``minimization.yaml``, with the field action and its parameters."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from cdp_plugin.rules.matching import parse_field_path
from cdp_plugin.rules.model import (
    ACTION_PARAMETERS,
    GENERALIZE_TARGETS,
    Choice,
    FieldRule,
    IntList,
    MinimizationRule,
    MinimizationRules,
    ParamSpec,
    ParamValue,
)
from cdp_plugin.rules.schemas.common import (
    _REQUIRED,
    _VERSION,
    EventMatchSchema,
    _as_dict,
    _as_list,
    _Bool,
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

_ACTIONS = ", ".join(ACTION_PARAMETERS)

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
