"""Typed audit records write exactly the dicts the plugin wrote before they existed.

``golden_records.jsonl`` holds one record per kind (and per variant worth
telling apart) as the pipeline and the callbacks wrote it, keys in written
order, without the ``seq`` and ``ts`` the log adds. Every typed record must
reproduce those dicts: same keys, same order, same values, so the canonical
bytes in the log, and so every leaf hash, stay the same.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.audit.log import REPAIR_KIND, canonical_json
from cdp_plugin.audit.records import (
    RECORD_TYPES,
    REGISTRY,
    AuditRecord,
    AuditRepair,
    ConsentRecorded,
    EventDecision,
    OptinRequested,
    OutboxRetry,
    PurposeChange,
    RetentionSwept,
    SegmentChanged,
    SegmentMove,
    record_from_mapping,
)
from cdp_plugin.errors import AuditError

GOLDEN = Path(__file__).with_name("golden_records.jsonl")
LINES = GOLDEN.read_text(encoding="utf-8").splitlines()
S = "s_7a488515c4a690d70bd8331cb32e4374"


def _golden(kind: str, **match: Any) -> dict[str, Any]:
    for line in LINES:
        record: dict[str, Any] = json.loads(line)
        if record["kind"] == kind and all(record.get(k) == v for k, v in match.items()):
            return record
    raise LookupError(kind)


def test_every_registered_kind_has_a_golden_record() -> None:
    assert {json.loads(line)["kind"] for line in LINES} == set(REGISTRY)


@pytest.mark.parametrize("line", LINES, ids=[json.loads(line)["kind"] for line in LINES])
def test_a_typed_record_reproduces_what_the_code_wrote(line: str) -> None:
    written = json.loads(line)
    record = record_from_mapping(written)
    assert type(record) is REGISTRY[written["kind"]]
    produced = record.as_dict()
    assert json.dumps(produced, ensure_ascii=False) == line  # same keys, order and values
    assert canonical_json(produced) == canonical_json(written)


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a decoded value has its field's declared type (not merely JSON's)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in args)
    if origin is tuple or origin is Sequence:
        return isinstance(value, tuple) and all(_conforms(v, args[0]) for v in value)
    if origin is not None and issubclass(origin, Mapping):
        return isinstance(value, Mapping) and all(
            _conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items())
    if hint is int:
        return type(value) is int
    return isinstance(value, hint)


@pytest.mark.parametrize("line", LINES, ids=[json.loads(line)["kind"] for line in LINES])
def test_reading_a_record_back_gives_typed_values(line: str) -> None:
    record = record_from_mapping(json.loads(line))
    hints = typing.get_type_hints(type(record))
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        assert _conforms(value, hints[field.name]), (field.name, value)
        if dataclasses.is_dataclass(value):
            raise AssertionError("nested records are only found inside tuples")
        for item in value if isinstance(value, tuple) else ():
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                inner = typing.get_type_hints(type(item))
                assert all(_conforms(getattr(item, f.name), inner[f.name])
                           for f in dataclasses.fields(item))


# --- records built from typed values, as the call sites build them ------------------------


def test_a_decision_built_from_typed_values() -> None:
    golden = _golden("event.decision", action="allow")
    record = EventDecision(
        message_id="m-allow", subject=S, type="track", event="Order Completed", action="allow",
        reasons=("consent.granted",),
        purposes=tuple(sorted({"advertising", "analytics", "marketing", "necessary",
                               "personalization"})),
        consent=dict.fromkeys(("advertising", "analytics", "marketing", "necessary",
                               "personalization"), "granted"),
        jurisdiction="EU",
        destinations=("ads", "esp", "personalization_engine", "push_service", "sms_gateway",
                      "support_desk", "warehouse"),
        rules_version=golden["rules_version"],
        minimization={"hash": ["userId"], "truncate": ["context.ip"],
                      "drop": ["context.consent", "properties.comment"]},
        minimization_rules={"hash:userId": "envelope", "truncate:context.ip": "envelope",
                            "drop:context.consent": "allowlist",
                            "drop:properties.comment": "allowlist"},
        segments=tuple(SegmentMove(name, True, False) for name in (
            "new_customer", "recently_active", "mobile_user", "german_speakers")),
    )
    assert list(record.as_dict().items()) == list(golden.items())


def test_times_are_written_as_iso_8601_as_before() -> None:
    recorded = ConsentRecorded(
        subject="s_1", source="import", captured_at=datetime(2026, 11, 20, 9, tzinfo=UTC),
        notice_version=None, purposes={"marketing": True}, channels={}, topics={},
        changes=(PurposeChange("marketing", "unknown", "granted"),))
    assert recorded.as_dict() == {
        "kind": "consent.recorded", "subject": "s_1", "source": "import",
        "captured_at": "2026-11-20T09:00:00+00:00", "notice_version": None,
        "purposes": {"marketing": True}, "channels": {}, "topics": {},
        "changes": [{"purpose": "marketing", "previous": "unknown", "current": "granted"}]}
    at = datetime(2026, 11, 29, 13, 0, 0, 619164, tzinfo=timezone(timedelta(hours=1)))
    assert SegmentChanged("s_1", "dormant", True, True, at, "tick").as_dict()["at"] == (
        "2026-11-29T13:00:00.619164+01:00")
    swept = RetentionSwept(at, {"sends": 2}, {"sends": at, "dedup": None}).as_dict()
    assert swept["cutoffs"] == {"sends": at.isoformat(), "dedup": None}
    retry = OutboxRetry("ntc_1", "esp", 1, "http 503", at).as_dict()
    assert list(retry) == ["kind", "idempotency_key", "destination", "attempt", "error",
                           "retry_at"]
    assert OptinRequested("s_1", "email", "r1", at).as_dict()["expires_at"] == at.isoformat()


def test_reading_back_keeps_the_exact_time_text() -> None:
    for text in ("2026-11-20T09:00:00+00:00", "2026-11-20T09:00:06.619164+00:00",
                 "2026-11-20T09:00:00", "2026-11-20T10:00:00.000001-05:30"):
        record = record_from_mapping({"kind": "optin.requested", "subject": "s_1",
                                      "channel": "email", "request": "r", "expires_at": text})
        assert isinstance(record, OptinRequested)
        assert isinstance(record.expires_at, datetime)
        assert record.as_dict()["expires_at"] == text


# --- the registry ----------------------------------------------------------------------


def test_the_registry_holds_every_record_class_once() -> None:
    def subclasses(cls: type) -> set[type]:
        found: set[type] = set(cls.__subclasses__())
        return found.union(*(subclasses(sub) for sub in found))

    # A slotted dataclass replaces the class it decorates: keep those reachable by name.
    concrete = {cls for cls in subclasses(AuditRecord) if cls.__module__.startswith(
        "cdp_plugin.") and "kind" in vars(cls)
        and getattr(sys.modules[cls.__module__], cls.__name__, None) is cls}
    assert concrete == set(RECORD_TYPES) == set(REGISTRY.values())
    assert len(RECORD_TYPES) == len(REGISTRY)
    assert AuditRepair.kind == REPAIR_KIND  # the log writes this one itself


def test_records_are_frozen_and_slotted() -> None:
    record = AuditRepair(20, "segment-000000.jsonl")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.segment = "other"  # type: ignore[misc]
    for cls in RECORD_TYPES:
        assert not hasattr(cls(**dict.fromkeys(
            (f.name for f in dataclasses.fields(cls)), None)), "__dict__"), cls


@pytest.mark.parametrize(("data", "message"), [
    ({"kind": "custom.thing"}, "unknown audit record kind 'custom.thing'"),
    ({"subject": "s_1"}, "unknown audit record kind None"),
    ({"kind": "event.duplicate", "message_id": "m"}, "missing field 'subject'"),
    ({"kind": "event.duplicate", "message_id": "m", "subject": "s", "ts": "x"},
     "unexpected field 'ts'"),
    ({"kind": "optin.cancelled", "subject": "s", "channel": "email", "requests": True},
     "field 'requests' is not of type int"),
    ({"kind": "event.invalid", "message_id": None, "problems": {"userId": ["required"]}},
     "field 'problems' is not of type Mapping"),
    ({"kind": "segment.changed", "subject": "s", "segment": "x", "entered": True,
      "active": True, "at": "yesterday", "cause": "tick"}, "field 'at' is not of type datetime"),
])
def test_a_mapping_that_does_not_fit_is_refused_by_name(data: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises(AuditError, match=re.escape(message)) as caught:
        record_from_mapping(data)
    assert "yesterday" not in str(caught.value)  # values stay out of the message


def test_from_dict_checks_the_kind() -> None:
    with pytest.raises(AuditError, match=re.escape("has kind 'audit.repair'")):
        AuditRepair.from_dict({"kind": "event.duplicate", "truncated_bytes": 1,
                               "segment": "x"})


def test_a_value_without_a_json_form_is_refused() -> None:
    record = AuditRepair(20, object())  # type: ignore[arg-type]
    with pytest.raises(AuditError, match="holds a value of type object"):
        record.as_dict()
