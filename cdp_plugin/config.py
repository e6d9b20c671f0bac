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
    rules_dir: Path | None = None
    """The rules directory. ``None``: ``rules`` if it exists, else the built-in rules
    (:func:`cdp_plugin.rules.builtin.locate_rules`); a directory set here must exist."""
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
    gateway: Mapping[str, Any] = field(default_factory=dict)
    """The ingest gateway's section (:mod:`cdp_plugin.gateway.settings`)."""
    delivery: Mapping[str, Any] = field(default_factory=dict)
    """Delivery targets by destination name (:mod:`cdp_plugin.gateway.delivery`)."""

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
    gateway = fields.Dict(keys=fields.String())
    delivery = fields.Dict(keys=fields.String())

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


EXAMPLE_FILE = "cdp_plugin.yaml"
"""The name ``cdp-plugin init`` gives the example configuration file."""

EXAMPLE_CONFIG = """\
# cdp_plugin configuration. Use it with: cdp-plugin COMMAND --config cdp_plugin.yaml
# (a host application: load_config("cdp_plugin.yaml")).
#
# Every setting is optional; the values below are the defaults. A CDP_PLUGIN_*
# environment variable overrides the file, and a command-line flag overrides both.
# Relative paths are relative to the working directory, not to this file.
# Secrets never go here: only the paths of files that hold them.

# The rules: purposes, jurisdictions, minimization, segments, retention.
# A directory set here, by CDP_PLUGIN_RULES_DIR or by --rules must exist.
# Default: rules if that exists, else the built-in rules (cdp-plugin init copies them).
rules_dir: rules

# Development keys and the SQLite store.
# Env CDP_PLUGIN_DATA_DIR, flag --data-dir. Default: .cdp_plugin
data_dir: .cdp_plugin

# Audit logs, one directory per worker.
# Env CDP_PLUGIN_AUDIT_DIR, flag --audit-dir. Default: audits
audit_dir: audits

# The store: a SQLite path or a postgresql:// DSN.
# Env CDP_PLUGIN_STORE, flag --store. Default: DATA_DIR/cdp.sqlite3
# store: postgresql://cdp@db.internal:5432/cdp

# This process's audit log origin is cdp-plugin/<worker_id>; give each
# concurrent worker its own (letters, digits, '.', '_', '-'; at most 64).
# Env CDP_PLUGIN_WORKER_ID, flag --worker-id. Default: w0
worker_id: w0

# Plugin names not to load (cdp-plugin plugins lists them).
# Env CDP_PLUGIN_BLOCKED_PLUGINS (comma-separated). Default: none
blocked_plugins: []

# Load third-party plugins from the cdp_plugin entry-point group. Default: true
load_entrypoints: true

# The master key of keyed pseudonyms: a file holding base64 of 32 bytes.
# Env CDP_PLUGIN_MASTER_KEY_FILE (or the key itself in CDP_PLUGIN_MASTER_KEY).
# Default: none, and a development key is created in data_dir with a warning.
# master_key_file: /run/secrets/cdp_master_key

# The Ed25519 signed-note private key that signs audit checkpoints.
# Env CDP_PLUGIN_AUDIT_SIGNING_KEY_FILE (or the key in CDP_PLUGIN_AUDIT_SIGNING_KEY).
# Default: none, and a development key is created in data_dir with a warning.
# audit_signing_key_file: /run/secrets/cdp_audit_signing_key

# How long events of unknown consent are held, in hours (more than 0). Default: 24
quarantine_ttl_hours: 24.0

# At most this many events held per subject (at least 1). Default: 100
quarantine_per_subject: 100

# Sign an audit checkpoint after this many records (at least 1). Default: 1000
checkpoint_every: 1000

# ... or after this many seconds, whichever comes first (more than 0). Default: 1.0
checkpoint_interval: 1.0

# fsync audit records before a call returns. Turn off only where losing the
# last records on power loss is acceptable (tests, throwaway runs). Default: true
audit_fsync: true

# Per-plugin settings, by plugin name; for example the preference-center
# callbacks under plugins.callbacks (see the README). Default: {}
plugins: {}

# The ingest gateway (cdp-plugin gateway): write_keys, the Segment write keys it
# accepts (or CDP_PLUGIN_WRITE_KEYS, comma-separated); retry_after_seconds (5)
# and busy_seconds (10) for its 503 answers. Default: {}
gateway: {}

# Where the gateway delivers forwarded events, by destination name from
# rules/purposes.yaml, e.g. {warehouse: {kind: jsonl, path: warehouse.jsonl}}.
# Default: {}
delivery: {}
"""
"""A commented configuration file setting every key to its default (see :data:`EXAMPLE_FILE`)."""
