"""Pieces shared by the schemas of every file under ``rules/``.

Field classes with plain-language messages and no silent type coercion, the
base schema that rejects unknown keys, the collector of cross-reference
problems and the event match that several files use.
"""

from __future__ import annotations

import re
from collections.abc import Collection
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

from cdp_plugin.rules.model import EventMatch
from cdp_plugin.types import EVENT_TYPES

NAMED_MESSAGE_TYPES = ("track", "page", "screen")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED = "required key is missing"
_NULL = "must have a value"
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
