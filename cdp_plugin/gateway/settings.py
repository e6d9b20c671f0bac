"""The gateway's settings: the ``gateway:`` section and ``CDP_PLUGIN_WRITE_KEYS``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError

WRITE_KEYS_ENV = "CDP_PLUGIN_WRITE_KEYS"
_KNOWN = frozenset({"write_keys", "retry_after_seconds", "busy_seconds"})
MIN_KEY_LENGTH = 8


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """``write_keys``: the Segment write keys accepted; ``retry_after_seconds``:
    what a 503 tells SDKs to wait; ``busy_seconds``: how long a request waits
    for the pipeline before it is answered 503 (backpressure)."""

    write_keys: tuple[str, ...]
    retry_after_seconds: int = 5
    busy_seconds: float = 10.0


def load_gateway_settings(config: Config, env: Mapping[str, str] | None = None
                          ) -> GatewaySettings:
    """Read and check the settings; ConfigError names the key, never a key's value.

    ``CDP_PLUGIN_WRITE_KEYS`` replaces ``gateway.write_keys``. At least one key
    is required: a gateway that accepts anything would let anyone write
    events (and consent signals) for any subject.
    """
    environ = os.environ if env is None else env
    section = dict(config.gateway)
    unknown = sorted(set(section) - _KNOWN)
    if unknown:
        raise ConfigError(f"gateway.{unknown[0]}: unknown key")
    keys = section.get("write_keys", [])
    source = "gateway.write_keys"
    if environ.get(WRITE_KEYS_ENV):
        keys = [k.strip() for k in environ[WRITE_KEYS_ENV].split(",") if k.strip()]
        source = WRITE_KEYS_ENV
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ConfigError(f"{source}: must be a list of strings")
    if not keys:
        raise ConfigError(f"{source}: no write key configured; set {WRITE_KEYS_ENV} or "
                          "gateway.write_keys")
    for position, key in enumerate(keys, 1):
        if len(key) < MIN_KEY_LENGTH or not key.isprintable() or ":" in key:
            raise ConfigError(f"{source} (entry {position}): a write key is at least "
                              f"{MIN_KEY_LENGTH} printable characters without ':'")
    retry = section.get("retry_after_seconds", 5)
    if not isinstance(retry, int) or isinstance(retry, bool) or not 1 <= retry <= 3600:
        raise ConfigError("gateway.retry_after_seconds: must be an integer from 1 to 3600")
    busy = section.get("busy_seconds", 10.0)
    if (not isinstance(busy, int | float) or isinstance(busy, bool)
            or not 0 < busy <= 300):
        raise ConfigError("gateway.busy_seconds: must be a number above 0, at most 300")
    return GatewaySettings(tuple(keys), retry, float(busy))
