"""Key material: the master key, keyed pseudonyms, and the audit signing key.

The master key comes from ``CDP_PLUGIN_MASTER_KEY`` (base64 of 32 bytes) or a
key file, never from ``rules/``. Without either, a development key file is
created in the data directory and a warning is logged once. Every other
secret is derived from the master key with HKDF, one label per use, so a
pseudonym key can never be mistaken for an encryption key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cdp_plugin.audit.note import NoteSigner, generate_signer_key
from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError

log = logging.getLogger(__name__)

MASTER_KEY_ENV = "CDP_PLUGIN_MASTER_KEY"
AUDIT_KEY_ENV = "CDP_PLUGIN_AUDIT_SIGNING_KEY"
_warned_dev_key = False


def _write_secret(path: Path, text: str) -> None:
    """Create ``path`` with owner-only permissions; never overwrite an existing key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")


def _decode_master(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{source}: master key is not valid base64") from exc
    if len(key) != 32:
        raise ConfigError(f"{source}: master key must be 32 bytes, got {len(key)}")
    return key


def load_master_key(config: Config, env: dict[str, str] | None = None) -> bytes:
    """Return the 32-byte master key (environment, key file, or development file)."""
    global _warned_dev_key
    environ = os.environ if env is None else env
    if environ.get(MASTER_KEY_ENV):
        return _decode_master(environ[MASTER_KEY_ENV], MASTER_KEY_ENV)
    path = config.master_key_file
    if path is not None:
        try:
            return _decode_master(path.read_text(encoding="ascii"), str(path))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read master key file ({exc.strerror})") from exc
    dev_path = config.data_dir / "master.key"
    if not dev_path.exists():
        _write_secret(dev_path, base64.b64encode(secrets.token_bytes(32)).decode("ascii"))
    if not _warned_dev_key:
        log.warning("using the development master key in %s; set %s in production",
                    dev_path, MASTER_KEY_ENV)
        _warned_dev_key = True
    return _decode_master(dev_path.read_text(encoding="ascii"), str(dev_path))


def derive_key(master: bytes, label: str) -> bytes:
    """A 32-byte subkey of ``master`` for one named use."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"cdp_plugin/{label}".encode())
    return hkdf.derive(master)


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
        _write_secret(path, generate_signer_key(f"cdp-plugin-{config.worker_id}"))
    try:
        return NoteSigner(path.read_text(encoding="ascii").strip())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read audit signing key ({exc.strerror})") from exc


class Pseudonymizer:
    """Keyed pseudonyms (HMAC-SHA256) for subjects and field values.

    The same input always maps to the same pseudonym under one master key,
    so records can be joined without revealing the identifier. Field hashes
    carry the key id so keys can rotate.
    """

    def __init__(self, master: bytes) -> None:
        self._subject_key = derive_key(master, "subject-pseudonym/v1")
        self._field_key = derive_key(master, "field-hash/v1")
        self.key_id = hashlib.sha256(self._field_key).hexdigest()[:8]

    def subject(self, subject_id: str) -> str:
        """The subject key stored and audited in place of ``subject_id``."""
        digest = hmac.new(self._subject_key, subject_id.encode(), hashlib.sha256).hexdigest()
        return "s_" + digest[:32]

    def field(self, value: str) -> str:
        """A keyed pseudonym of a field value, prefixed with the key id."""
        digest = hmac.new(self._field_key, value.encode(), hashlib.sha256).hexdigest()
        return f"h1:{self.key_id}:{digest[:32]}"
