"""Master keys: where they come from, how they rotate, and the subkeys derived from them.

Master keys come from ``CDP_PLUGIN_MASTER_KEY`` or a key file, never from
``rules/``. Without either, a development key file is created in the data
directory and a warning is logged once. Either source holds one key as
base64 of 32 bytes (its id is the first 8 hex digits of the key's SHA-256),
or a list ``id1:base64,id2:base64`` (commas or newlines between entries),
newest first, for rotation:

* the first key is current: it wraps new per-subject data keys
  (:mod:`cdp_plugin.keys.keyring`) and keys field hashes, whose ``h1:<key id>:``
  prefix therefore changes when the current key changes;
* every listed key still unwraps the data keys it wrapped, until
  ``cdp-plugin keys rotate`` has re-wrapped them under the current key;
* subject pseudonyms are bound to the first master key the deployment used,
  which is the last entry of the list: they are lookup keys for consent,
  profiles and data keys, so they must not change when keys rotate. Keep
  that key listed for as long as the stored data is needed.

Every other secret is derived from a master key with HKDF, one label per use,
so a pseudonym key can never be mistaken for an encryption key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError
from cdp_plugin.keys.secret_files import write_secret

log = logging.getLogger(__name__)

MASTER_KEY_ENV = "CDP_PLUGIN_MASTER_KEY"
WRAP_LABEL = "data-key-wrap/v1"
"""The HKDF label of the key-encryption key derived from each master key."""

_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_warned_dev_key = False


def _decode_master(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{source}: master key is not valid base64") from exc
    if len(key) != 32:
        raise ConfigError(f"{source}: master key must be 32 bytes, got {len(key)}")
    return key


def derive_key(master: bytes, label: str) -> bytes:
    """A 32-byte subkey of ``master`` for one named use."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"cdp_plugin/{label}".encode())
    return hkdf.derive(master)


def key_id_of(secret: bytes) -> str:
    """The id of a master key given without one: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(secret).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class MasterKey:
    """One 32-byte master key and the id recorded with everything it wraps."""

    key_id: str
    secret: bytes = field(repr=False)


class MasterKeys:
    """The configured master keys, newest first (see the module docstring).

    ``current`` is the first key, ``pseudonym`` the last. Key-encryption keys
    are derived once per key and remembered. Raises :class:`ConfigError` for
    an empty list or a repeated id.
    """

    def __init__(self, keys: Sequence[MasterKey]) -> None:
        if not keys:
            raise ConfigError("master keys: at least one key is required")
        by_id: dict[str, MasterKey] = {}
        for key in keys:
            if key.key_id in by_id:
                raise ConfigError(f"master keys: key id {key.key_id!r} is listed twice")
            by_id[key.key_id] = key
        self._keys = tuple(keys)
        self._by_id = by_id
        self._keks: dict[str, bytes] = {}

    @classmethod
    def single(cls, secret: bytes) -> MasterKeys:
        """One key, with the id derived from it."""
        return cls([MasterKey(key_id_of(secret), secret)])

    @property
    def current(self) -> MasterKey:
        """The key that wraps new data keys and keys field hashes."""
        return self._keys[0]

    @property
    def pseudonym(self) -> MasterKey:
        """The key subject pseudonyms derive from: the oldest listed."""
        return self._keys[-1]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key.key_id for key in self._keys)

    def __iter__(self) -> Iterator[MasterKey]:
        return iter(self._keys)

    def __repr__(self) -> str:
        return f"MasterKeys({', '.join(self.ids)})"

    def kek(self, key_id: str) -> bytes | None:
        """The key-encryption key of master key ``key_id``, or None if it is not listed."""
        kek = self._keks.get(key_id)
        if kek is None:
            key = self._by_id.get(key_id)
            if key is None:
                return None
            kek = self._keks[key_id] = derive_key(key.secret, WRAP_LABEL)
        return kek


def parse_master_keys(text: str, source: str) -> MasterKeys:
    """Read one base64 key, or ``id:base64`` entries separated by commas or newlines.

    An entry without an id gets :func:`key_id_of`. Raises :class:`ConfigError`
    naming ``source`` and the entry's position (never the key) if an entry is
    not base64 of 32 bytes, an id is malformed, or an id repeats.
    """
    entries = [entry.strip() for entry in re.split(r"[,\n]", text) if entry.strip()]
    if not entries:
        raise ConfigError(f"{source}: no master key given")
    keys: list[MasterKey] = []
    for number, entry in enumerate(entries, start=1):
        where = source if len(entries) == 1 else f"{source} (entry {number})"
        key_id, separator, encoded = entry.rpartition(":")
        if separator and not _KEY_ID.fullmatch(key_id):
            raise ConfigError(f"{where}: a master key id is 1-32 letters, digits, '_' or '-'")
        secret = _decode_master(encoded, where)
        keys.append(MasterKey(key_id if separator else key_id_of(secret), secret))
    return MasterKeys(keys)


def load_master_keys(config: Config, env: dict[str, str] | None = None) -> MasterKeys:
    """The master keys from the environment, the key file, or the development file.

    Raises :class:`ConfigError` if the chosen source cannot be read or parsed.
    """
    global _warned_dev_key
    environ = os.environ if env is None else env
    if environ.get(MASTER_KEY_ENV):
        return parse_master_keys(environ[MASTER_KEY_ENV], MASTER_KEY_ENV)
    path = config.master_key_file
    if path is not None:
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not ASCII"
            raise ConfigError(f"{path}: cannot read master key file ({reason})") from exc
        return parse_master_keys(text, str(path))
    dev_path = config.data_dir / "master.key"
    if not dev_path.exists():
        write_secret(dev_path, base64.b64encode(secrets.token_bytes(32)).decode("ascii"))
    if not _warned_dev_key:
        log.warning("using the development master key in %s; set %s in production",
                    dev_path, MASTER_KEY_ENV)
        _warned_dev_key = True
    return parse_master_keys(dev_path.read_text(encoding="ascii"), str(dev_path))


def load_master_key(config: Config, env: dict[str, str] | None = None) -> MasterKeys:
    """The historical name of :func:`load_master_keys`; pass the result to
    :class:`cdp_plugin.keys.pseudonyms.Pseudonymizer` or
    :class:`cdp_plugin.keys.keyring.Keyring`."""
    return load_master_keys(config, env)
