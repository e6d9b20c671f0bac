"""The base of every typed audit record: its JSON form, and reading one back from a mapping.

A record class is a frozen, slotted dataclass with a ``kind`` class variable.
:meth:`AuditRecord.as_dict` gives the JSON-ready dict the audit log stores:
``kind`` first, then the fields in declaration order, with tuples as lists,
mappings as dicts, datetimes as ISO 8601 text (``datetime.isoformat()``) and
nested dataclasses as dicts of their fields. :meth:`AuditRecord.from_dict` is
the reverse for a dict of that shape; it raises :class:`AuditError` naming the
kind and the field that does not fit, never the value.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, NoReturn, Self

from cdp_plugin.errors import AuditError

Decoder = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class AuditRecord:
    """One fact the audit log vouches for; subclasses say which (see ``kind``).

    Fields hold no raw personal data: subjects appear only as pseudonyms, and
    field paths or codes stand for values. A record does not copy the
    mappings it is given; do not change them after building it.
    """

    kind: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        """The record as the audit log writes it, before ``seq`` and ``ts`` are added."""
        data: dict[str, Any] = {"kind": self.kind}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            data[name] = value if type(value) in _PLAIN else _json_ready(value)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The record holding ``data`` (its ``kind`` must be this class's).

        Raises :class:`AuditError` for another kind, a missing or unexpected
        field, or a value of the wrong type.
        """
        if data.get("kind") != cls.kind:
            raise AuditError(f"a {cls.__name__} record has kind {cls.kind!r}, "
                             f"not {data.get('kind')!r}")
        record: Self = _decode_fields(cls, data, cls.kind)
        return record


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _json_ready(value: Any) -> Any:
    # Exact types first: every event's decision record comes through here.
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {key: item if type(item) in _PLAIN else _json_ready(item)
                for key, item in value.items()}
    if kind is tuple or kind is list:
        return [item if type(item) in _PLAIN else _json_ready(item) for item in value]
    if kind in _FIELD_NAMES or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        return {name: item if type(item := getattr(value, name)) in _PLAIN else _json_ready(item)
                for name in _field_names(kind)}
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_json_ready(item) for item in value]
    raise AuditError(f"an audit record field holds a value of type {type(value).__name__}, "
                     "which has no JSON form")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_PLANS: dict[type, dict[str, Decoder]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


# --- reading a record back -------------------------------------------------------------


def _decode_fields(cls: type[Any], data: Mapping[str, Any], kind: str) -> Any:
    plan = _plan(cls)
    if len(data) != len(plan) + ("kind" in data):
        unexpected = sorted(str(key) for key in data if key != "kind" and key not in plan)
        if unexpected:
            raise AuditError(f"audit record of kind {kind!r}: unexpected field "
                             f"{unexpected[0]!r}")
    values = {}
    for name, decode in plan.items():
        if name not in data:
            raise AuditError(f"audit record of kind {kind!r}: missing field {name!r}")
        try:
            values[name] = decode(data[name])
        except (TypeError, ValueError):
            raise AuditError(f"audit record of kind {kind!r}: field {name!r} "
                             f"is not of type {_describe(cls, name)}") from None
    return cls(**values)


def _plan(cls: type) -> dict[str, Decoder]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = _PLANS[cls] = {f.name: _decoder(hints[f.name]) for f in dataclasses.fields(cls)}
    return plan


def _describe(cls: type, name: str) -> str:
    hint = typing.get_type_hints(cls)[name]
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("collections.abc.", "").replace("typing.", "")


def _decoder(hint: Any) -> Decoder:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        options = [_decoder(arg) for arg in args if arg is not type(None)]
        allows_none = type(None) in args
        return lambda value: None if value is None and allows_none else _first(options, value)
    if hint is Any:
        return lambda value: value
    if hint is datetime:
        return lambda value: datetime.fromisoformat(_exact(str, value))
    if hint is str:
        return _string
    if hint is bool:
        return lambda value: value if type(value) is bool else _fail()
    if hint is int:
        return lambda value: value if type(value) is int else _fail()
    if hint is float:
        return lambda value: value if type(value) in (int, float) else _fail()
    if origin in (tuple, Sequence) and (origin is Sequence or args[-1] is Ellipsis):
        item = _decoder(args[0])
        if item is _string:
            return _strings
        return lambda value: tuple(item(v) for v in _exact((list, tuple), value))
    if origin in (Mapping, dict):
        key, item = _decoder(args[0]), _decoder(args[1])
        return lambda value: {key(k): item(v) for k, v in _exact(Mapping, value).items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda value: _decode_fields(hint, _exact(Mapping, value), hint.__name__)
    raise TypeError(f"audit records cannot hold a field of type {hint!r}")


def _string(value: Any) -> str:
    return value if type(value) is str else _fail()


def _strings(value: Any) -> tuple[str, ...]:
    if (type(value) is list or type(value) is tuple) and all(type(v) is str for v in value):
        return tuple(value)
    _fail()


def _exact(expected: Any, value: Any) -> Any:
    if type(value) is dict or type(value) is list or type(value) is str:
        if expected is Mapping:
            return value if type(value) is dict else _fail()
        return value if isinstance(value, expected) else _fail()
    return value if isinstance(value, expected) else _fail()


def _first(options: list[Decoder], value: Any) -> Any:
    for decode in options:
        try:
            return decode(value)
        except (TypeError, ValueError):
            continue
    return _fail()


def _fail() -> NoReturn:
    raise TypeError("wrong type")
