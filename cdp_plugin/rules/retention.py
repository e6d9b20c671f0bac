"""``rules/retention.yaml``: how long each kind of stored data is kept.

:class:`RetentionRules` is the loaded file and :class:`RetentionFileSchema`
validates it; :func:`cdp_plugin.rules.loader.load_rules` reads it with the
other rules files (``RuleSet.retention``), reporting problems the same way.

The file is optional: without it every time to live takes its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from marshmallow import post_load, validate, validates_schema

from cdp_plugin.rules.schemas import (
    _VERSION,
    _as_dict,
    _Int,
    _Mapping,
    _Name,
    _Problems,
    _RulesSchema,
)

RETENTION_FILE = "retention.yaml"

MAX_DAYS = 36_500
MAX_QUARANTINE_HOURS = 8_760
DEFAULT_PROFILES_DAYS = 395
DEFAULT_DEDUP_DAYS = 30
DEFAULT_SENDS_DAYS = 90
DEFAULT_DELIVERIES_DAYS = 30

_DAYS = validate.Range(min=1, max=MAX_DAYS, error=f"must be from 1 to {MAX_DAYS} days")
_HOURS = validate.Range(
    min=1, max=MAX_QUARANTINE_HOURS, error=f"must be from 1 to {MAX_QUARANTINE_HOURS} hours"
)


def _no_fields() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RetentionRules:
    """Times to live of stored data; ``None`` keeps that kind until something else removes it.

    * ``quarantine_hours``: held events are removed at their own expiry (set
      from the ``quarantine_ttl_hours`` setting when they are held) or, if this
      is set, once received longer ago than this, whichever comes first;
    * ``profiles_days``: profiles not updated for this long are deleted whole;
    * ``profile_fields_days``: top-level profile keys (``features``,
      ``segments``) removed from profiles not updated for this long, while the
      rest of the profile waits for ``profiles_days``;
    * ``consent_proofs_days``: ledger records captured longer ago lose their
      ``proof`` but keep their state; a record a current state comes from keeps
      its proof (see :meth:`cdp_plugin.storage.base.Store.blank_consent_proofs`);
    * ``dedup_days``: message ids seen longer ago are forgotten, so a replay
      older than this is processed again;
    * ``sends_days``: sends recorded for frequency caps longer ago are deleted;
    * ``deliveries_days``: deliveries settled longer ago (delivered, cancelled,
      dead-lettered) are deleted; pending ones never are.
    """

    quarantine_hours: int | None = None
    profiles_days: int = DEFAULT_PROFILES_DAYS
    profile_fields_days: Mapping[str, int] = field(default_factory=_no_fields)
    consent_proofs_days: int | None = None
    dedup_days: int = DEFAULT_DEDUP_DAYS
    sends_days: int = DEFAULT_SENDS_DAYS
    deliveries_days: int = DEFAULT_DELIVERIES_DAYS


class RetentionFileSchema(_RulesSchema):
    """``retention.yaml``. ``longest_cap_days`` is the longest frequency cap window
    (``per_days`` in ``purposes.yaml``): sends must be kept at least that long."""

    version = _Int(required=True, validate=_VERSION)
    quarantine_hours = _Int(load_default=None, validate=_HOURS)
    profiles_days = _Int(load_default=DEFAULT_PROFILES_DAYS, validate=_DAYS)
    profile_fields_days = _Mapping(keys=_Name(), values=_Int(validate=_DAYS), load_default=dict)
    consent_proofs_days = _Int(load_default=None, validate=_DAYS)
    dedup_days = _Int(load_default=DEFAULT_DEDUP_DAYS, validate=_DAYS)
    sends_days = _Int(load_default=DEFAULT_SENDS_DAYS, validate=_DAYS)
    deliveries_days = _Int(load_default=DEFAULT_DELIVERIES_DAYS, validate=_DAYS)

    def __init__(self, longest_cap_days: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.longest_cap_days = longest_cap_days

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _check_lengths(self, data: Any, original: Any, **kwargs: Any) -> None:
        raw = _as_dict(original)
        problems = _Problems()
        profiles = raw.get("profiles_days", DEFAULT_PROFILES_DAYS)
        if _is_int(profiles):
            for name, days in _as_dict(raw.get("profile_fields_days")).items():
                if _is_int(days) and days >= profiles:
                    problems.add(("profile_fields_days", name),
                                 f"must be shorter than profiles_days ({profiles}); by then "
                                 "the whole profile is deleted")
        sends = raw.get("sends_days", DEFAULT_SENDS_DAYS)
        if _is_int(sends) and sends < self.longest_cap_days:
            problems.add(("sends_days",),
                         f"must be at least {self.longest_cap_days} days, the longest "
                         "frequency cap window in purposes.yaml, or the caps would undercount")
        problems.raise_if_any()

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> RetentionRules:
        return RetentionRules(
            quarantine_hours=data["quarantine_hours"],
            profiles_days=data["profiles_days"],
            profile_fields_days=MappingProxyType(dict(data["profile_fields_days"])),
            consent_proofs_days=data["consent_proofs_days"],
            dedup_days=data["dedup_days"],
            sends_days=data["sends_days"],
            deliveries_days=data["deliveries_days"],
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def longest_cap_days(purposes_document: Any) -> int:
    """The longest ``per_days`` among the frequency caps of a parsed ``purposes.yaml``.

    Reads the raw document and skips anything malformed (its own schema reports
    that), so it never raises; 0 when there are no caps.
    """
    caps = _as_dict(_as_dict(purposes_document).get("frequency_caps"))
    windows: list[int] = [
        cap["per_days"] for cap in caps.values()
        if isinstance(cap, dict) and _is_int(cap.get("per_days"))
    ]
    return max(windows, default=0)
