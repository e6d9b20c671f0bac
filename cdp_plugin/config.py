"""Pipeline configuration: embedded defaults, an optional YAML file, environment overrides.

Precedence, lowest first: built-in defaults, the configuration file, the
``CDP_PLUGIN_*`` environment variables, explicit overrides (CLI flags).
Secrets (the master key, the audit signing key) never live in the file: only
paths to key files do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from cdp_plugin.errors import ConfigError

ENV_PREFIX = "CDP_PLUGIN_"


@dataclass(frozen=True)
class Config:
    """Everything a pipeline needs to start. Paths are relative to the working directory."""

    data_dir: Path = Path(".cdp_plugin")
    rules_dir: Path = Path("rules")
    audit_dir: Path = Path("audits")
    store: str | None = None
    worker_id: str = "w0"
    blocked_plugins: tuple[str, ...] = ()
    load_entrypoints: bool = True
    master_key_file: Path | None = None
    audit_signing_key_file: Path | None = None
    quarantine_ttl_hours: float = 24.0
    quarantine_per_subject: int = 100
    checkpoint_every: int = 1000
    checkpoint_interval: float = 1.0
    audit_fsync: bool = True
    plugins: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def store_target(self) -> str:
        """The store DSN or path: the configured one, else SQLite in the data directory."""
        return self.store or str(self.data_dir / "cdp.sqlite3")

    @property
    def audit_origin(self) -> str:
        """The checkpoint origin line of this worker's audit log."""
        return f"cdp-plugin/{self.worker_id}"

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with the given non-``None`` fields replaced."""
        chosen = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **_coerce(chosen))


_PATH_FIELDS = ("data_dir", "rules_dir", "audit_dir", "master_key_file", "audit_signing_key_file")


def _coerce(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name in _PATH_FIELDS:
        if isinstance(out.get(name), str):
            out[name] = Path(out[name])
    if "blocked_plugins" in out:
        out["blocked_plugins"] = tuple(out["blocked_plugins"])
    return out


class _ConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    data_dir = fields.String()
    rules_dir = fields.String()
    audit_dir = fields.String()
    store = fields.String()
    worker_id = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$"))
    blocked_plugins = fields.List(fields.String())
    load_entrypoints = fields.Boolean()
    master_key_file = fields.String()
    audit_signing_key_file = fields.String()
    quarantine_ttl_hours = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    quarantine_per_subject = fields.Integer(validate=validate.Range(min=1))
    checkpoint_every = fields.Integer(validate=validate.Range(min=1))
    checkpoint_interval = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    audit_fsync = fields.Boolean()
    plugins = fields.Dict(keys=fields.String(), values=fields.Dict())

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return _coerce(data)


_ENV_FIELDS = {
    "DATA_DIR": "data_dir",
    "RULES_DIR": "rules_dir",
    "AUDIT_DIR": "audit_dir",
    "STORE": "store",
    "WORKER_ID": "worker_id",
    "MASTER_KEY_FILE": "master_key_file",
    "AUDIT_SIGNING_KEY_FILE": "audit_signing_key_file",
}


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        return [m for k, v in messages.items() for m in _flatten(v, f"{prefix}{k}.")]
    return [f"{prefix.rstrip('.')}: {'; '.join(map(str, messages))}"]


def load_config(path: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from defaults, ``path`` (YAML) and ``env``.

    Raises :class:`ConfigError` naming the file and each bad key.
    """
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    source = "configuration"
    if path is not None:
        source = str(path)
        try:
            with open(path, encoding="utf-8") as handle:
                loaded = yaml.safe_load(handle) or {}
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML ({type(exc).__name__})") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{source}: must be a mapping of settings")
        raw.update(loaded)
    for suffix, name in _ENV_FIELDS.items():
        if env.get(ENV_PREFIX + suffix):
            raw[name] = env[ENV_PREFIX + suffix]
    blocked = env.get(ENV_PREFIX + "BLOCKED_PLUGINS")
    if blocked:
        raw["blocked_plugins"] = [p.strip() for p in blocked.split(",") if p.strip()]
    try:
        values = _ConfigSchema().load(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(_flatten(exc.messages))) from exc
    return Config(**values)
