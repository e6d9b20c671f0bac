"""Boundary validation of Segment Spec messages: cdp_plugin.events."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_plugin.errors import InvalidEvent
from cdp_plugin.events import decode_line, is_object, parse_event
from cdp_plugin.types import EVENT_TYPES, Event

_KEY = b"test-pseudonym-key"


def pseudonymize(subject_id: str) -> str:
    return hmac.new(_KEY, subject_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


# Every field path and every problem phrase the validator may report: an error
# built only from these cannot carry a value from the message.
KNOWN_PATHS = frozenset(
    {
        "$",
        "type",
        "messageId",
        "userId",
        "anonymousId",
        "userId|anonymousId",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "receivedAt",
        "context",
        "context.traits",
        "context.ip",
        "properties",
        "traits",
        "integrations",
        "event",
        "name",
        "groupId",
        "previousId",
        # Where a poison value (NUL, lone surrogate, NaN) is reported: its top-level key.
        "category",
        "channel",
        "version",
        "writeKey",
    }
)
TYPE_PHRASE = "must be one of track, identify, page, screen, group, alias"
TIME_PHRASE = "must be an ISO-8601 timestamp with a time zone"
KNOWN_PROBLEMS = frozenset(
    {
        "required",
        "must be a string",
        "must not be empty",
        "must be an object",
        "not a JSON object",
        "too long (max 512)",
        "too long (max 200)",
        TYPE_PHRASE,
        TIME_PHRASE,
        "holds a NUL character or a lone surrogate",
        "holds NaN or an infinite number, which JSON does not allow",
    }
)
VOCABULARY = "\n".join(["InvalidEvent", "invalid event", *KNOWN_PATHS, *KNOWN_PROBLEMS,
                        *(f"invalid:{path}" for path in KNOWN_PATHS)])


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def assert_no_values_leak(error: InvalidEvent, raw: Any) -> None:
    text = f"{error}\n{error!r}\n{error.fields}\n{error.reasons}"
    for value in _strings(raw):
        if len(value) >= 6 and value not in VOCABULARY:
            assert value not in text


def _context() -> dict[str, Any]:
    return {
        "ip": "203.0.113.77",
        "library": {"name": "analytics.js", "version": "4.1.0"},
        "locale": "en-GB",
        "page": {
            "path": "/checkout/complete",
            "url": "https://shop.example.com/checkout/complete?ref=alice@example.com",
            "referrer": "https://www.example.org/",
        },
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
        "traits": {"email": "alice@example.com", "plan": "premium"},
        "consent": {"categoryPreferences": {"analytics": True, "advertising": False}},
    }


def _common(event_type: str) -> dict[str, Any]:
    return {
        "type": event_type,
        "messageId": "ajs-next-1714564800123-0f1e2d3c",
        "userId": "user-alice-8812",
        "anonymousId": "anon-5b1d0c9e-77aa",
        "timestamp": "2024-05-01T14:00:00.123+02:00",
        "sentAt": "2024-05-01T12:00:00.200Z",
        "receivedAt": "2024-05-01T12:00:00.400Z",
        "context": _context(),
        "integrations": {"All": True, "Mixpanel": False},
        "version": 2,
        "channel": "client",
    }


VALID: dict[str, dict[str, Any]] = {
    "track": _common("track")
    | {
        "event": "Order Completed",
        "properties": {
            "order_id": "ord-50314b8e",
            "total": 27.5,
            "currency": "EUR",
            "products": [{"sku": "45790-32", "price": 19.0, "quantity": 1}],
        },
    },
    "identify": _common("identify")
    | {"traits": {"email": "alice@example.com", "name": "Alice Liddell", "age": 31}},
    "page": _common("page")
    | {
        "name": "Checkout Complete",
        "category": "Checkout",
        "properties": {"title": "Thank you", "path": "/checkout/complete"},
    },
    "screen": _common("screen")
    | {"name": "Order Summary", "properties": {"variation": "blue-button"}},
    "group": _common("group")
    | {"groupId": "org-acme-0042", "traits": {"name": "Acme Corp", "employees": 320}},
    "alias": _common("alias") | {"previousId": "anon-5b1d0c9e-77aa"},
}


def valid(event_type: str = "track") -> dict[str, Any]:
    return copy.deepcopy(VALID[event_type])


def invalid(raw: dict[str, Any]) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw, pseudonymize)
    assert_no_values_leak(caught.value, raw)
    return caught.value


# --- valid messages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "name"),
    [
        ("track", "Order Completed"),
        ("identify", None),
        ("page", "Checkout Complete"),
        ("screen", "Order Summary"),
        ("group", None),
        ("alias", None),
    ],
)
def test_valid_message_of_each_type_builds_the_event(event_type: str, name: str | None) -> None:
    raw = valid(event_type)

    event = parse_event(raw, pseudonymize, headers={"X-Request-Id": "req-1"})

    assert isinstance(event, Event)
    assert event.type == event_type
    assert event.message_id == "ajs-next-1714564800123-0f1e2d3c"
    assert event.subject_id == "user-alice-8812"
    assert event.subject_key == pseudonymize("user-alice-8812")
    assert event.subject_key != "user-alice-8812"
    assert event.user_id == "user-alice-8812"
    assert event.anonymous_id == "anon-5b1d0c9e-77aa"
    assert event.name == name
    assert event.timestamp == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert event.timestamp.tzinfo is UTC
    assert event.payload == raw
    assert dict(event.headers) == {"X-Request-Id": "req-1"}


def test_every_type_has_a_valid_example() -> None:
    assert set(VALID) == EVENT_TYPES


def test_payload_and_headers_are_read_only() -> None:
    headers = {"X-Request-Id": "req-1"}
    event = parse_event(valid(), pseudonymize, headers=headers)
    headers["X-Request-Id"] = "changed"

    with pytest.raises(TypeError):
        event.payload["userId"] = "someone-else"  # type: ignore[index]
    with pytest.raises(TypeError):
        event.headers["X-Request-Id"] = "other"  # type: ignore[index]
    assert event.headers["X-Request-Id"] == "req-1"
    assert dict(parse_event(valid(), pseudonymize).headers) == {}


def test_anonymous_visitor_is_keyed_by_anonymous_id() -> None:
    raw = valid("page")
    raw["userId"] = None  # analytics.js sends null for visitors who are not identified
    del raw["name"]

    event = parse_event(raw, pseudonymize)

    assert event.subject_id == "anon-5b1d0c9e-77aa"
    assert event.subject_key == pseudonymize("anon-5b1d0c9e-77aa")
    assert event.user_id is None
    assert event.name is None


def test_optional_objects_may_be_absent_or_null_and_unknown_keys_are_kept() -> None:
    raw = {
        "type": "identify",
        "messageId": "m-1",
        "anonymousId": "anon-1",
        "timestamp": "2024-05-01T12:00:00Z",
        "context": None,
        "traits": None,
        "_metadata": {"bundled": ["Segment.io"]},
        "writeKey": "wk-abc",
    }

    event = parse_event(raw, pseudonymize)

    assert event.payload["_metadata"] == {"bundled": ["Segment.io"]}
    assert event.payload["writeKey"] == "wk-abc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00.5Z", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T12:00:00.123456Z", datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T12:00:00.123456789Z", datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T12:00:00+00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T08:30:00-03:30", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T21:00:00.250+09:00", datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_timestamps_with_a_zone_are_accepted_and_converted_to_utc(
    text: str, expected: datetime
) -> None:
    raw = valid()
    raw["timestamp"] = text

    event = parse_event(raw, pseudonymize)

    assert event.timestamp == expected
    assert event.timestamp.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("present", "used"),
    [
        (("timestamp", "originalTimestamp", "sentAt", "receivedAt"), "timestamp"),
        (("originalTimestamp", "sentAt", "receivedAt"), "originalTimestamp"),
        (("sentAt", "receivedAt"), "sentAt"),
        (("receivedAt",), "receivedAt"),
    ],
)
def test_timestamp_falls_back_in_order(present: tuple[str, ...], used: str) -> None:
    hours = {"timestamp": 1, "originalTimestamp": 2, "sentAt": 3, "receivedAt": 4}
    raw = valid()
    for key in hours:
        raw.pop(key, None)
    for key in present:
        raw[key] = f"2024-05-01T0{hours[key]}:00:00Z"

    event = parse_event(raw, pseudonymize)

    assert event.timestamp == datetime(2024, 5, 1, hours[used], tzinfo=UTC)


def test_invalid_fallback_time_is_reported_under_its_own_name() -> None:
    raw = valid()
    del raw["timestamp"]
    raw["originalTimestamp"] = "alice@example.com"

    assert invalid(raw).fields == {"originalTimestamp": TIME_PHRASE}


# --- one rule broken at a time ------------------------------------------------------


def _set(**values: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        raw.update(values)

    return change


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        for key in keys:
            raw.pop(key, None)

    return change


def _set_context(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        raw["context"][key] = value

    return change


_TIME_KEYS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")

RULES: list[tuple[str, str, Callable[[dict[str, Any]], None], dict[str, str]]] = [
    ("type-missing", "track", _drop("type"), {"type": "required"}),
    ("type-unknown", "track", _set(type="alice@example.com"), {"type": TYPE_PHRASE}),
    ("type-number", "track", _set(type=404), {"type": "must be a string"}),
    ("messageId-missing", "track", _drop("messageId"), {"messageId": "required"}),
    ("messageId-null", "identify", _set(messageId=None), {"messageId": "required"}),
    ("messageId-empty", "track", _set(messageId=""), {"messageId": "must not be empty"}),
    ("messageId-number", "page", _set(messageId=123456789), {"messageId": "must be a string"}),
    (
        "messageId-too-long",
        "track",
        _set(messageId="alice@example.com" * 31),
        {"messageId": "too long (max 512)"},
    ),
    (
        "ids-missing",
        "track",
        _drop("userId", "anonymousId"),
        {"userId|anonymousId": "required"},
    ),
    # A message with both ids null is as good as one without them.
    (
        "ids-null",
        "identify",
        _set(userId=None, anonymousId=None),
        {"userId|anonymousId": "required"},
    ),
    ("userId-number", "track", _set(userId=5551234567), {"userId": "must be a string"}),
    ("userId-empty", "track", _set(userId=""), {"userId": "must not be empty"}),
    (
        "userId-too-long",
        "track",
        _set(userId="alice@example.com" * 31),
        {"userId": "too long (max 512)"},
    ),
    ("anonymousId-number", "page", _set(anonymousId=42424242), {"anonymousId": "must be a string"}),
    (
        "anonymousId-object",
        "screen",
        _set(anonymousId={"id": "alice@example.com"}),
        {"anonymousId": "must be a string"},
    ),
    ("timestamp-missing", "track", _drop(*_TIME_KEYS), {"timestamp": "required"}),
    ("timestamp-text", "track", _set(timestamp="alice@example.com"), {"timestamp": TIME_PHRASE}),
    (
        "timestamp-naive",
        "track",
        _set(timestamp="2024-05-01T12:00:00.123"),
        {"timestamp": TIME_PHRASE},
    ),
    ("timestamp-date-only", "track", _set(timestamp="2024-05-01"), {"timestamp": TIME_PHRASE}),
    ("timestamp-no-T", "track", _set(timestamp="2024-05-01x12:00:00Z"), {"timestamp": TIME_PHRASE}),
    ("timestamp-epoch", "track", _set(timestamp=1714564800), {"timestamp": TIME_PHRASE}),
    (
        "timestamp-overflow",
        "track",
        _set(timestamp="0001-01-01T00:00:00+01:00"),
        {"timestamp": TIME_PHRASE},
    ),
    (
        "context-string",
        "track",
        _set(context="alice@example.com"),
        {"context": "must be an object"},
    ),
    (
        "properties-list",
        "track",
        _set(properties=["alice@example.com"]),
        {"properties": "must be an object"},
    ),
    (
        "traits-string",
        "identify",
        _set(traits="alice@example.com"),
        {"traits": "must be an object"},
    ),
    (
        "integrations-list",
        "track",
        _set(integrations=["Mixpanel"]),
        {"integrations": "must be an object"},
    ),
    (
        "context-traits-string",
        "identify",
        _set_context("traits", "alice@example.com"),
        {"context.traits": "must be an object"},
    ),
    (
        "context-ip-number",
        "track",
        _set_context("ip", 3232235777),
        {"context.ip": "must be a string"},
    ),
    ("event-missing", "track", _drop("event"), {"event": "required"}),
    ("event-empty", "track", _set(event=""), {"event": "must not be empty"}),
    ("event-number", "track", _set(event=1234567), {"event": "must be a string"}),
    (
        "event-too-long",
        "track",
        _set(event="alice@example.com" * 12),
        {"event": "too long (max 200)"},
    ),
    ("page-name-number", "page", _set(name=1234567), {"name": "must be a string"}),
    (
        "page-properties-string",
        "page",
        _set(properties="alice@example.com"),
        {"properties": "must be an object"},
    ),
    ("screen-name-list", "screen", _set(name=["alice@example.com"]), {"name": "must be a string"}),
    ("group-groupId-missing", "group", _drop("groupId"), {"groupId": "required"}),
    ("group-groupId-number", "group", _set(groupId=9876543), {"groupId": "must be a string"}),
    (
        "group-traits-list",
        "group",
        _set(traits=["alice@example.com"]),
        {"traits": "must be an object"},
    ),
    ("alias-previousId-missing", "alias", _drop("previousId"), {"previousId": "required"}),
    (
        "alias-previousId-number",
        "alias",
        _set(previousId=7654321),
        {"previousId": "must be a string"},
    ),
    ("alias-userId-missing", "alias", _drop("userId"), {"userId": "required"}),
    ("alias-no-ids", "alias", _drop("userId", "anonymousId"), {"userId": "required"}),
]


@pytest.mark.parametrize(
    ("event_type", "change", "expected"),
    [rule[1:] for rule in RULES],
    ids=[rule[0] for rule in RULES],
)
def test_each_rule_reports_its_field_and_no_value(
    event_type: str, change: Callable[[dict[str, Any]], None], expected: dict[str, str]
) -> None:
    raw = valid(event_type)
    change(raw)

    error = invalid(raw)

    assert error.fields == expected
    assert "alice@example.com" not in str(error)
    assert error.reasons == tuple(f"invalid:{path}" for path in sorted(expected))


def test_error_carries_message_id_only_when_it_is_valid() -> None:
    raw = valid()
    del raw["event"]
    assert invalid(raw).message_id == "ajs-next-1714564800123-0f1e2d3c"

    raw["messageId"] = ""
    assert invalid(raw).message_id is None
    raw["messageId"] = 12345678
    assert invalid(raw).message_id is None


def test_all_problems_are_reported_at_once() -> None:
    raw = {
        "type": "track",
        "messageId": "m-77",
        "userId": 5551234567,
        "anonymousId": "",
        "timestamp": "yesterday, alice@example.com",
        "event": "",
        "properties": "alice@example.com",
        "context": {"ip": ["203.0.113.77"], "traits": "alice@example.com"},
        "integrations": [],
    }

    error = invalid(raw)

    assert error.fields == {
        "userId": "must be a string",
        "anonymousId": "must not be empty",
        "timestamp": TIME_PHRASE,
        "event": "must not be empty",
        "properties": "must be an object",
        "context.ip": "must be a string",
        "context.traits": "must be an object",
        "integrations": "must be an object",
    }
    assert error.message_id == "m-77"


def test_empty_message_lists_every_required_field() -> None:
    assert invalid({}).fields == {
        "type": "required",
        "messageId": "required",
        "userId|anonymousId": "required",
        "timestamp": "required",
    }


def test_pseudonymize_is_not_reached_for_an_invalid_message() -> None:
    def refuse(subject_id: str) -> str:
        raise RuntimeError("pseudonymize must not see an invalid message")

    raw = valid()
    del raw["event"]
    with pytest.raises(InvalidEvent):
        parse_event(raw, refuse)


def test_a_non_mapping_is_rejected() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(["alice@example.com"], pseudonymize)  # type: ignore[arg-type]
    assert caught.value.fields == {"$": "not a JSON object"}
    assert "alice@example.com" not in str(caught.value)


# --- decode_line ----------------------------------------------------------------------


def test_decode_line_returns_the_object() -> None:
    raw = valid()
    line = json.dumps(raw)

    assert decode_line(line) == raw
    assert decode_line(line.encode() + b"\n") == raw


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"   \n",
        b'{"userId": "alice@example.com"',
        b'"alice@example.com"',
        b'["alice@example.com"]',
        b"null",
        b"42",
        b'{"userId": "alice@example.com"} trailing',
        b'{"userId": "alice@example.com\xff"}',
        "[" * 100_000,
    ],
)
def test_decode_line_rejects_anything_but_one_object_without_echoing_it(
    line: bytes | str,
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_line(line)

    error = caught.value
    assert error.fields == {"$": "not a JSON object"}
    assert error.message_id is None
    assert "alice" not in str(error)
    # The decoder's error (which can quote the input) is not chained.
    assert error.__cause__ is None
    assert error.__suppress_context__


# --- arbitrary input --------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)

_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_times = st.datetimes(timezones=_offsets).map(datetime.isoformat) | st.sampled_from(
    ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00.5-02:30"]
)
_ids = st.text(min_size=1, max_size=16)
_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=4)
# Values that break a rule in a known way, besides arbitrary JSON.
_edge_values = st.sampled_from(
    ["", "x" * 201, "x" * 513, "2024-05-01", "2024-05-01T12:00", "0001-01-01T00:00:00+01:00"]
)
_FIELDS = (
    "type", "messageId", "userId", "anonymousId", "previousId", "groupId", "event", "name",
    "timestamp", "originalTimestamp", "sentAt", "receivedAt",
    "context", "properties", "traits", "integrations",
)  # fmt: skip


@st.composite
def shaped_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A valid message of a random type, then up to three fields dropped or replaced.

    Starting from a valid message keeps both outcomes (an Event, an error) common.
    """
    event_type = draw(st.sampled_from(sorted(EVENT_TYPES)))
    raw: dict[str, Any] = {"type": event_type, "messageId": draw(_ids)}
    for key in draw(st.sampled_from([("userId",), ("anonymousId",), ("userId", "anonymousId")])):
        raw[key] = draw(_ids)
    for key in draw(st.lists(st.sampled_from(_TIME_KEYS), min_size=1, max_size=2, unique=True)):
        raw[key] = draw(_times)
    context = st.fixed_dictionaries({}, optional={"traits": _objects, "ip": st.text(max_size=8)})
    raw["context"] = draw(context)
    if event_type == "track":
        raw["event"] = draw(st.text(min_size=1, max_size=12))
    if event_type in ("page", "screen"):
        raw["name"] = draw(st.none() | st.text(max_size=12))
    if event_type == "group":
        raw["groupId"] = draw(_ids)
    if event_type == "alias":
        raw["previousId"] = draw(_ids)
        raw.setdefault("userId", draw(_ids))
    raw[draw(st.sampled_from(("properties", "traits", "integrations")))] = draw(_objects)
    for key in draw(st.lists(st.sampled_from(_FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            raw.pop(key, None)
        else:
            raw[key] = draw(_edge_values | json_values)
    return raw


arbitrary_messages = st.dictionaries(st.text(max_size=20), json_values, max_size=8)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=shaped_messages() | arbitrary_messages)
def test_any_json_object_gives_an_event_or_a_value_free_error(raw: dict[str, Any]) -> None:
    try:
        event = parse_event(raw, pseudonymize)
    except InvalidEvent as error:
        assert error.fields
        assert set(error.fields) <= KNOWN_PATHS
        assert set(error.fields.values()) <= KNOWN_PROBLEMS
        # The message is built from the fixed vocabulary alone.
        assert str(error) == str(InvalidEvent(error.fields))
        assert_no_values_leak(error, raw)
        return
    assert event.type in EVENT_TYPES
    assert event.subject_id in (raw.get("userId"), raw.get("anonymousId"))
    assert event.subject_key == pseudonymize(event.subject_id)
    assert event.timestamp.utcoffset() == timedelta(0)
    assert event.payload == raw


class _Frozen(Mapping[str, int]):
    """A mapping that is not a dict."""

    def __getitem__(self, key: str) -> int:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _Text(str):
    """A str subclass: still not a mapping."""


@pytest.mark.parametrize(("value", "expected"), [
    ({}, True), ({"a": 1}, True), (MappingProxyType({"a": 1}), True), (_Frozen(), True),
    (OrderedDict(), True), (None, False), ("text", False), (_Text("x"), False), (1, False),
    (1.5, False), (True, False), ([], False), ((), False), (b"{}", False),
])
def test_is_object_answers_like_the_mapping_abc(value: object, expected: bool) -> None:
    assert is_object(value) is expected is isinstance(value, Mapping)
