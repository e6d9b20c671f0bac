"""Settings of the preference-center callbacks.

They live under ``plugins.callbacks`` in the configuration file; the webhook
secrets may come from ``CDP_PLUGIN_WEBHOOK_SECRETS`` instead (comma-separated
``whsec_`` secrets), which then replaces the file's list. Example::

    plugins:
      callbacks:
        max_body_bytes: 1048576
        destinations:                      # names from rules/purposes.yaml
          esp:
            url: https://esp.example.com/suppressions
            channels: [email]              # channel withdrawals it must hear of
            topics: [newsletter, offers]
            secret: whsec_...              # optional: sign the notices
        outbox: {max_attempts: 8, base_delay_seconds: 2, max_delay_seconds: 3600}
        double_opt_in: {channels: [email], jurisdictions: [EU, EEA, UK, CH]}

A purpose withdrawal goes to every configured destination that serves the
purpose in ``rules/purposes.yaml``; channel and topic withdrawals go to the
destinations that list them here.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from cdp_plugin.callbacks.auth import parse_secret
from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError
from cdp_plugin.rules.model import RuleSet

SECRETS_ENV = "CDP_PLUGIN_WEBHOOK_SECRETS"
PLUGIN_KEY = "callbacks"
_SOURCE = f"plugins.{PLUGIN_KEY}"


@dataclass(frozen=True, slots=True)
class Destination:
    """A downstream system that receives suppression and erasure notices."""

    name: str
    url: str
    channels: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    secret: str | None = field(default=None, repr=False)
    """A ``whsec_`` secret: when set, notices carry Standard Webhooks signatures."""


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    """Retry policy: attempt ``n`` fails, the next waits ``base * 2**(n-1)``
    seconds (at most ``max_delay``), jittered; after ``max_attempts`` the
    notice is dead-lettered."""

    max_attempts: int = 8
    base_delay_seconds: float = 2.0
    max_delay_seconds: float = 3600.0
    timeout_seconds: float = 10.0
    batch_size: int = 50
    poll_seconds: float = 1.0
    lease_margin_seconds: float = 5.0

    @property
    def lease_seconds(self) -> float:
        """How long an attempt keeps its notice from other senders: longer
        than any request can take, so two senders never overlap."""
        return 2 * self.timeout_seconds + self.lease_margin_seconds

    def backoff(self, attempts: int, rng: random.Random) -> timedelta:
        """The wait after failed attempt number ``attempts``: ``base * 2**(n-1)``
        capped at ``max_delay``, with equal jitter (between half and all of it)."""
        ceiling = min(self.max_delay_seconds,
                      self.base_delay_seconds * 2 ** min(max(attempts, 1) - 1, 60))
        return timedelta(seconds=rng.uniform(ceiling / 2, ceiling))


@dataclass(frozen=True, slots=True)
class DoubleOptInSettings:
    """Where a channel grant needs confirmation before it counts.

    It is required for ``channels`` when ``always`` is set or the subject's
    regime (``rules/jurisdictions.yaml``) is one of ``jurisdictions``.
    ``confirm_url``, if set, is returned with the token, ``{token}`` replaced.
    """

    channels: frozenset[str] = frozenset({"email"})
    jurisdictions: frozenset[str] = frozenset()
    always: bool = False
    token_ttl_hours: float = 48.0
    confirm_url: str | None = None

    def required(self, channel: str, regime: str) -> bool:
        return channel in self.channels and (self.always or regime in self.jurisdictions)


@dataclass(frozen=True, slots=True)
class CallbackSettings:
    """Everything the callback endpoints, the outbox and erasure need."""

    secrets: tuple[str, ...] = field(default=(), repr=False)
    tolerance_seconds: int = 300
    max_body_bytes: int = 1_048_576
    max_batch: int = 500
    webhook_retention_hours: float = 72.0
    scrub_after_erase: bool = True
    destinations: Mapping[str, Destination] = field(default_factory=dict)
    outbox: OutboxSettings = OutboxSettings()
    double_opt_in: DoubleOptInSettings = DoubleOptInSettings()


class _DestinationSchema(Schema):
    class Meta:
        unknown = RAISE

    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    channels = fields.List(fields.String(), load_default=list)
    topics = fields.List(fields.String(), load_default=list)
    secret = fields.String()


class OutboxSchema(Schema):
    class Meta:
        unknown = RAISE

    max_attempts = fields.Integer(validate=validate.Range(min=1, max=100))
    base_delay_seconds = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    max_delay_seconds = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    timeout_seconds = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    batch_size = fields.Integer(validate=validate.Range(min=1, max=1000))
    poll_seconds = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    lease_margin_seconds = fields.Float(validate=validate.Range(min=0))


class _DoubleOptInSchema(Schema):
    class Meta:
        unknown = RAISE

    channels = fields.List(fields.String())
    jurisdictions = fields.List(fields.String())
    always = fields.Boolean()
    token_ttl_hours = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    confirm_url = fields.String(validate=validate.Length(min=1, max=2000))


class _SettingsSchema(Schema):
    class Meta:
        unknown = RAISE

    webhook_secrets = fields.List(fields.String())
    tolerance_seconds = fields.Integer(validate=validate.Range(min=1, max=3600))
    max_body_bytes = fields.Integer(validate=validate.Range(min=1024, max=64 * 1024 * 1024))
    max_batch = fields.Integer(validate=validate.Range(min=1, max=10_000))
    webhook_retention_hours = fields.Float(validate=validate.Range(min=1))
    scrub_after_erase = fields.Boolean()
    destinations = fields.Dict(keys=fields.String(), values=fields.Nested(_DestinationSchema))
    outbox = fields.Nested(OutboxSchema)
    double_opt_in = fields.Nested(_DoubleOptInSchema)


def flatten_errors(messages: Any, prefix: str) -> list[str]:
    if isinstance(messages, dict):
        # A mapping's entries report under "value": the entry's own name says enough.
        return [m for k, v in messages.items()
                for m in flatten_errors(v, prefix if k == "value" else f"{prefix}.{k}")]
    return [f"{prefix}: {'; '.join(map(str, messages))}"]


def _check_names(names: list[str], known: Any, where: str) -> None:
    for position, name in enumerate(names):
        if name not in known:
            raise ConfigError(f"{where}.{position}: not defined in the rules")


def load_settings(config: Config, rules: RuleSet,
                  env: Mapping[str, str] | None = None) -> CallbackSettings:
    """Read and check ``plugins.callbacks`` and ``CDP_PLUGIN_WEBHOOK_SECRETS``.

    Destinations, channels, topics and regimes must be defined in the rules.
    Raises :class:`ConfigError` naming the key (or the secret's position),
    never a value.
    """
    environ = os.environ if env is None else env
    try:
        raw: dict[str, Any] = _SettingsSchema().load(dict(config.plugins.get(PLUGIN_KEY, {})))
    except ValidationError as exc:
        raise ConfigError("; ".join(flatten_errors(exc.messages, _SOURCE))) from None
    secrets: list[str] = raw.pop("webhook_secrets", [])
    source = f"{_SOURCE}.webhook_secrets"
    if environ.get(SECRETS_ENV):
        secrets = [s.strip() for s in environ[SECRETS_ENV].split(",") if s.strip()]
        source = SECRETS_ENV
    for position, secret in enumerate(secrets):
        parse_secret(secret, f"{source} (entry {position + 1})")
    purposes = rules.purposes
    destinations: dict[str, Destination] = {}
    for name, entry in raw.pop("destinations", {}).items():
        where = f"{_SOURCE}.destinations.{name}"
        if name not in purposes.destinations:
            raise ConfigError(f"{where}: not a destination of purposes.yaml")
        _check_names(entry["channels"], purposes.channels, f"{where}.channels")
        _check_names(entry["topics"], purposes.topics, f"{where}.topics")
        if "secret" in entry:
            parse_secret(entry["secret"], f"{where}.secret")
        destinations[name] = Destination(name, entry["url"], frozenset(entry["channels"]),
                                         frozenset(entry["topics"]), entry.get("secret"))
    optin = dict(raw.pop("double_opt_in", {}))
    _check_names(optin.get("channels", []), purposes.channels, f"{_SOURCE}.double_opt_in.channels")
    _check_names(optin.get("jurisdictions", []), rules.jurisdictions.regimes,
                 f"{_SOURCE}.double_opt_in.jurisdictions")
    for name in ("channels", "jurisdictions"):
        if name in optin:
            optin[name] = frozenset(optin[name])
    return CallbackSettings(
        secrets=tuple(secrets), destinations=destinations,
        outbox=OutboxSettings(**raw.pop("outbox", {})),
        double_opt_in=DoubleOptInSettings(**optin), **raw,
    )
