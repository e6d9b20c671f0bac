"""The schema of ``jurisdictions.yaml``."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

from marshmallow import post_load, validate, validates_schema

from cdp_plugin.rules.model import CONSENT_MODELS, Jurisdiction, JurisdictionRules
from cdp_plugin.rules.schemas.common import (
    _VERSION,
    _as_dict,
    _as_list,
    _Bool,
    _Int,
    _List,
    _Mapping,
    _messages,
    _Nested,
    _Problems,
    _RulesSchema,
    _Str,
)

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_REGION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")

class _Code(_Str):
    """An ISO 3166 code; YAML reads an unquoted NO (Norway) as false, hence the hint."""

    default_error_messages = _messages(
        invalid='must be a string; quote codes such as "NO" that YAML reads as true/false'
    )

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
