"""The Ed25519 signed-note key that signs audit checkpoints, and where it is loaded from."""

from __future__ import annotations

import os

from cdp_plugin.audit.note import NoteSigner, generate_signer_key
from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError
from cdp_plugin.keys.secret_files import write_secret

AUDIT_KEY_ENV = "CDP_PLUGIN_AUDIT_SIGNING_KEY"


def load_audit_signer(config: Config, env: dict[str, str] | None = None) -> NoteSigner:
    """The Ed25519 signed-note key that signs audit checkpoints.

    From ``CDP_PLUGIN_AUDIT_SIGNING_KEY`` (the ``PRIVATE+KEY+...`` text), a
    key file, or a development key file created in the data directory.
    """
    environ = os.environ if env is None else env
    if environ.get(AUDIT_KEY_ENV):
        return NoteSigner(environ[AUDIT_KEY_ENV].strip())
    path = config.audit_signing_key_file or config.data_dir / "audit-signing.key"
    if config.audit_signing_key_file is None and not path.exists():
        write_secret(path, generate_signer_key(f"cdp-plugin-{config.worker_id}"))
    try:
        return NoteSigner(path.read_text(encoding="ascii").strip())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read audit signing key ({exc.strerror})") from exc
