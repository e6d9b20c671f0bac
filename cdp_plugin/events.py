"""Validate Segment Spec messages at the boundary and build :class:`~cdp_plugin.types.Event`.

This runs once per ingested event, so the checks are compiled at import into
plain Python: common checks inline in :func:`parse_event`, per-type checks in
``_TYPE_CHECKS`` (a dict from message type to a tuple of small closures). No
schema library and no regular expression is involved.

Every failure is one :class:`~cdp_plugin.errors.InvalidEvent` that lists all
problems found, keyed by field path, with fixed problem phrases: a value from
the message never reaches an error message.

A key whose value is JSON ``null`` counts as absent: Segment's libraries send
``"userId": null`` for anonymous visitors and ``"context": null`` is common.

Poison values are rejected here, so that one bad line cannot stop a run at
the same place on every retry: a string (or key) holding a NUL character or
a lone UTF-16 surrogate (which UTF-8, SQLite and PostgreSQL cannot store), and
a number that is not finite (``NaN``, ``Infinity``, or ``1e999``, which
overflows to infinity). None of these is valid JSON as RFC 8259 defines it,
so the event is invalid, never silently rewritten.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, TypeGuard

from cdp_plugin.errors import InvalidEvent
from cdp_plugin.json_read import NOT_READ, read_fast
from cdp_plugin.types import EVENT_TYPES, Event

__all__ = ["decode_line", "parse_event", "poison_problems"]

_ID_MAX: Final = 512
_EVENT_NAME_MAX: Final = 200
# Fixed order, so the problem phrase is the same on every run (a frozenset is not ordered).
_TYPE_ORDER: Final = ("track", "identify", "page", "screen", "group", "alias")
# Where the event time comes from when ``timestamp`` is absent, in order of preference.
_TIME_KEYS: Final = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
_OBJECT_KEYS: Final = ("context", "properties", "traits", "integrations")

_REQUIRED: Final = "required"
_NOT_A_STRING: Final = "must be a string"
_EMPTY: Final = "must not be empty"
_NOT_AN_OBJECT: Final = "must be an object"
_NOT_A_TIMESTAMP: Final = "must be an ISO-8601 timestamp with a time zone"
_BAD_TYPE: Final = "must be one of " + ", ".join(_TYPE_ORDER)
_NOT_JSON_OBJECT: Final = "not a JSON object"
_NOT_FINITE: Final = "holds NaN or an infinite number, which JSON does not allow"
_UNSTORABLE: Final = "holds a NUL character or a lone surrogate"
# Top-level keys of the Segment Spec: a poison value is reported under its
# top-level key when that key is one of these, else under "$" (an unknown key
# is client text and may itself be personal data).
_SPEC_KEYS: Final = frozenset({
    "type", "messageId", "userId", "anonymousId", "groupId", "previousId", "event", "name",
    "category", "timestamp", "originalTimestamp", "sentAt", "receivedAt", "context",
    "properties", "traits", "integrations", "channel", "version", "writeKey",
})

assert frozenset(_TYPE_ORDER) == EVENT_TYPES, "_TYPE_ORDER must list every event type"

_NO_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})

_Problems = dict[str, str]
_Check = Callable[[Mapping[str, Any], _Problems], None]


def linked_ids(event: Event) -> list[str]:
    """The other identities an event says are its subject: the anonymous id of an
    event that also carries a user id, and an alias's ``previousId``."""
    linked = []
    if event.user_id and event.anonymous_id:
        linked.append(event.anonymous_id)
    previous = event.payload.get("previousId") if event.type == "alias" else None
    if isinstance(previous, str) and previous:
        linked.append(previous)
    return linked


def decode_line(line: bytes | str) -> dict[str, Any]:
    """Decode one JSON line into a dict.

    Raises :class:`InvalidEvent` with ``{"$": "not a JSON object"}`` if the line
    is not valid JSON (or not UTF-8), nests too deeply, or holds anything other
    than an object at the top level, and with a problem naming the top-level
    key for a non-finite number, a NUL or a lone surrogate. The decoder's own
    error is dropped, since it may quote the offending bytes.
    """
    non_finite: list[str] = []

    def number(text: str) -> float:
        value = float(text)  # "NaN", "Infinity", "-Infinity" and "1e999" included
        if not math.isfinite(value):
            non_finite.append(text)
        return value

    value = read_fast(line)
    if value is NOT_READ:
        try:
            value = json.loads(line, parse_float=number, parse_constant=number)
        except (ValueError, RecursionError):
            value = None
    if not isinstance(value, dict):
        raise InvalidEvent({"$": _NOT_JSON_OBJECT}) from None
    # A NUL or a surrogate can only arrive as a \u escape, or (in bytes, which
    # the decoder reads with surrogatepass) as an encoded surrogate after 0xED.
    suspect = (b"\\u" in line or b"\xed" in line) if isinstance(line, bytes) \
        else ("\\u" in line or not line.isascii())
    if suspect or non_finite:
        problems = poison_problems(value)
        if problems:
            raise InvalidEvent(problems, _clean_message_id(value, problems))
    return value


def poison_problems(raw: Mapping[str, Any]) -> dict[str, str]:
    """Problems with values that no store or JSON writer accepts, by top-level key.

    Looks at every key and value: strings with a NUL character or a lone
    surrogate, and floats that are NaN or infinite. Nesting too deep to walk
    counts as a problem of the whole message.
    """
    problems: dict[str, str] = {}
    try:
        for key, value in raw.items():
            where = key if key in _SPEC_KEYS else "$"
            if not isinstance(key, str) or _unstorable(key):
                problems["$"] = _UNSTORABLE
            elif (problem := _value_problem(value)) is not None:
                problems.setdefault(where, problem)
    except RecursionError:
        problems["$"] = _NOT_JSON_OBJECT
    return problems


def _unstorable(text: str) -> bool:
    if text.isascii():
        return "\x00" in text
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # only a lone surrogate cannot be encoded
        return True
    return False


def _value_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return _UNSTORABLE if _unstorable(value) else None
    if isinstance(value, float):
        return None if math.isfinite(value) else _NOT_FINITE
    if is_object(value):
        for key, item in value.items():
            if isinstance(key, str) and _unstorable(key):
                return _UNSTORABLE
            if (problem := _value_problem(item)) is not None:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            if (problem := _value_problem(item)) is not None:
                return problem
    return None


def _clean_message_id(raw: Mapping[str, Any], problems: Mapping[str, str]) -> str | None:
    """The message's id for the audit record, unless it is itself at fault."""
    message_id = raw.get("messageId")
    if "messageId" in problems or not isinstance(message_id, str):
        return None
    return message_id if _id_problem(message_id, _ID_MAX) is None else None


def parse_event(
    raw: Mapping[str, Any],
    pseudonymize: Callable[[str], str],
    headers: Mapping[str, str] | None = None,
    *,
    checked_for_poison: bool = False,
) -> Event:
    """Validate ``raw`` against the Segment Spec and return it as a frozen :class:`Event`.

    ``pseudonymize`` turns the subject id (``userId``, else ``anonymousId``) into
    the keyed ``subject_key``; it is called only for a valid message, and what
    it raises propagates unchanged. ``payload`` is a read-only view of ``raw``
    (not a copy, and only the top level is read-only).

    Raises :class:`InvalidEvent` listing every problem found, with
    ``message_id`` set when ``messageId`` itself is valid. Unless
    ``checked_for_poison`` says :func:`decode_line` already did, every value
    is checked for NUL, lone surrogates and non-finite numbers.
    """
    if not is_object(raw):
        raise InvalidEvent({"$": _NOT_JSON_OBJECT})
    problems: _Problems = {}
    get = raw.get

    # Annotated Any: JSON values, narrowed by the checks below rather than by type.
    event_type: Any = get("type")
    type_checks: tuple[_Check, ...] = ()
    if event_type is None:
        problems["type"] = _REQUIRED
    elif not isinstance(event_type, str):
        problems["type"] = _NOT_A_STRING
    else:
        found = _TYPE_CHECKS.get(event_type)
        if found is None:
            problems["type"] = _BAD_TYPE
        else:
            type_checks = found

    message_id: Any = get("messageId")
    problem = _required_id_problem(message_id, _ID_MAX)
    if problem is not None:
        problems["messageId"] = problem

    user_id: Any = get("userId")
    anonymous_id: Any = get("anonymousId")
    if user_id is None and anonymous_id is None:
        problems["userId|anonymousId"] = _REQUIRED
    else:
        if user_id is not None and (problem := _id_problem(user_id, _ID_MAX)) is not None:
            problems["userId"] = problem
        if anonymous_id is not None and (problem := _id_problem(anonymous_id, _ID_MAX)) is not None:
            problems["anonymousId"] = problem

    timestamp = _event_time(raw, problems)

    for key in _OBJECT_KEYS:
        value = get(key)
        if value is not None and not is_object(value):
            problems[key] = _NOT_AN_OBJECT
    context = get("context")
    if context is not None and is_object(context):
        _check_context(context, problems)

    for check in type_checks:
        check(raw, problems)

    if not problems and checked_for_poison is False:
        problems.update(poison_problems(raw))
    if problems:
        raise InvalidEvent(problems, _clean_message_id(raw, problems))

    # Every value below was checked above; the narrowing is for the type checker.
    assert timestamp is not None
    subject_id: str = user_id if user_id is not None else anonymous_id
    name_key = _NAME_KEY.get(event_type)
    return Event(
        type=event_type,
        message_id=message_id,
        subject_id=subject_id,
        subject_key=pseudonymize(subject_id),
        timestamp=timestamp,
        payload=MappingProxyType(raw if isinstance(raw, dict) else dict(raw)),
        name=get(name_key) if name_key is not None else None,
        user_id=user_id,
        anonymous_id=anonymous_id,
        headers=MappingProxyType(dict(headers)) if headers else _NO_HEADERS,
    )


_MAPPINGS = frozenset({dict, MappingProxyType})
"""Mappings known without the ABC check: JSON's objects and the read-only views of them."""
_NOT_MAPPINGS = frozenset({type(None), str, bytes, int, float, bool, list})
"""JSON's other types (and raw lines): known not to be mappings without the ABC check."""


def is_object(value: object) -> TypeGuard[Mapping[Any, Any]]:
    """Whether ``value`` is a JSON object (a mapping); ``dict``, read-only views
    and JSON's other types are tested first, since events are made of them and
    the ABC check costs several times more."""
    kind = value.__class__
    return kind in _MAPPINGS or (kind not in _NOT_MAPPINGS and isinstance(value, Mapping))


def _id_problem(value: object, max_len: int) -> str | None:
    """The problem with a present identifier, or None if it is a usable string."""
    if not isinstance(value, str):
        return _NOT_A_STRING
    if not value:
        return _EMPTY
    if len(value) > max_len:
        return f"too long (max {max_len})"
    return None


def _required_id_problem(value: object, max_len: int) -> str | None:
    if value is None:
        return _REQUIRED
    return _id_problem(value, max_len)


def _parse_time(value: object) -> datetime | None:
    """``value`` as an aware UTC datetime, or None if it is not an ISO-8601 time with a zone."""
    # fromisoformat takes any character between date and time; ISO-8601 wants "T",
    # and no other part of a valid string can contain one.
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return None
        return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: e.g. year 1 with a positive offset
        return None


def _event_time(raw: Mapping[str, Any], problems: _Problems) -> datetime | None:
    """The first present time key (see ``_TIME_KEYS``), parsed; records a problem if none."""
    for key in _TIME_KEYS:
        value = raw.get(key)
        if value is not None:
            parsed = _parse_time(value)
            if parsed is None:
                problems[key] = _NOT_A_TIMESTAMP
            return parsed
    problems["timestamp"] = _REQUIRED
    return None


def _check_context(context: Mapping[str, Any], problems: _Problems) -> None:
    traits = context.get("traits")
    if traits is not None and not is_object(traits):
        problems["context.traits"] = _NOT_AN_OBJECT
    ip = context.get("ip")
    if ip is not None and not isinstance(ip, str):
        problems["context.ip"] = _NOT_A_STRING


def _required_string(key: str, max_len: int) -> _Check:
    def check(raw: Mapping[str, Any], problems: _Problems) -> None:
        problem = _required_id_problem(raw.get(key), max_len)
        if problem is not None:
            problems[key] = problem

    return check


def _optional_string(key: str) -> _Check:
    def check(raw: Mapping[str, Any], problems: _Problems) -> None:
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            problems[key] = _NOT_A_STRING

    return check


def _required_alias_user(raw: Mapping[str, Any], problems: _Problems) -> None:
    # The common checks already judged a present userId; an alias also needs it present.
    if raw.get("userId") is None:
        problems["userId"] = _REQUIRED
        problems.pop("userId|anonymousId", None)


# Object-typed fields (properties, traits) are checked for every type above,
# so the per-type tables only hold what differs between types.
_TYPE_CHECKS: Final[dict[str, tuple[_Check, ...]]] = {
    "track": (_required_string("event", _EVENT_NAME_MAX),),
    "identify": (),
    "page": (_optional_string("name"),),
    "screen": (_optional_string("name"),),
    "group": (_required_string("groupId", _ID_MAX),),
    "alias": (_required_string("previousId", _ID_MAX), _required_alias_user),
}
assert _TYPE_CHECKS.keys() == EVENT_TYPES, "_TYPE_CHECKS must cover every event type"

# The message key that becomes Event.name, per type.
_NAME_KEY: Final[dict[str, str]] = {"track": "event", "page": "name", "screen": "name"}
