"""The built-in delivery target kinds, registered through ``cdp_register_destinations``
like any third-party kind (block this module by name to replace them).

=========  ==========================================================  =========
``kind``   keys                                                        shape
=========  ==========================================================  =========
jsonl      ``path``                                                    direct
segment    ``url``, ``write_key``, ``timeout_seconds``                 queued
webhook    ``url``, ``secret`` (Standard Webhooks), ``timeout_seconds``  queued
postgres   ``dsn``, ``table``, ``timeout_seconds``                     queued
=========  ==========================================================  =========
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from cdp_plugin.callbacks.auth import parse_secret
from cdp_plugin.callbacks.settings import flatten_errors
from cdp_plugin.delivery.postgres_target import PostgresTarget, table_identifier
from cdp_plugin.delivery.targets import (
    DirectTarget,
    JsonlTarget,
    QueuedTarget,
    SegmentTarget,
    TargetFactory,
    WebhookTarget,
)
from cdp_plugin.errors import ConfigError
from cdp_plugin.markers import hookimpl

_TIMEOUT = fields.Float(load_default=10.0, validate=validate.Range(min=0, min_inclusive=False,
                                                                     max=300))
_URL = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)


class _Strict(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True)


class _JsonlSchema(_Strict):
    path = fields.String(required=True, validate=validate.Length(min=1))


class _SegmentSchema(_Strict):
    url = _URL
    write_key = fields.String(required=True, validate=validate.Length(min=1, max=500))
    timeout_seconds = _TIMEOUT


class _WebhookSchema(_Strict):
    url = _URL
    secret = fields.String()
    timeout_seconds = _TIMEOUT


class _PostgresSchema(_Strict):
    dsn = fields.String(required=True, validate=validate.Length(min=1))
    table = fields.String(required=True)
    timeout_seconds = _TIMEOUT


def _load(schema: Schema, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` checked by ``schema``; ConfigError names ``delivery.<name>.<key>``,
    never a value (a write key, secret or DSN must not reach a log)."""
    try:
        loaded: dict[str, Any] = schema.load(dict(spec))
    except ValidationError as exc:
        raise ConfigError("; ".join(flatten_errors(exc.messages, f"delivery.{name}"))) from None
    return loaded


def jsonl(name: str, spec: Mapping[str, Any]) -> DirectTarget:
    return JsonlTarget(_load(_JsonlSchema(), name, spec)["path"])


def segment(name: str, spec: Mapping[str, Any]) -> QueuedTarget:
    loaded = _load(_SegmentSchema(), name, spec)
    return SegmentTarget(loaded["url"], loaded["write_key"], timeout=loaded["timeout_seconds"])


def webhook(name: str, spec: Mapping[str, Any]) -> QueuedTarget:
    loaded = _load(_WebhookSchema(), name, spec)
    if "secret" in loaded:
        parse_secret(loaded["secret"], f"delivery.{name}.secret")
    return WebhookTarget(loaded["url"], loaded.get("secret"), timeout=loaded["timeout_seconds"])


def postgres(name: str, spec: Mapping[str, Any]) -> QueuedTarget:
    loaded = _load(_PostgresSchema(), name, spec)
    table = table_identifier(loaded["table"], f"delivery.{name}.table")
    return PostgresTarget(loaded["dsn"], table, timeout=loaded["timeout_seconds"])


BUILT_IN: dict[str, TargetFactory] = {"jsonl": jsonl, "segment": segment, "webhook": webhook,
                                      "postgres": postgres}


@hookimpl
def cdp_register_destinations(register: Callable[[str, TargetFactory], None]) -> None:
    """Register ``jsonl``, ``segment``, ``webhook`` and ``postgres``."""
    for kind, factory in BUILT_IN.items():
        register(kind, factory)
