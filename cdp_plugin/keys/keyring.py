"""Per-subject data keys: field encryption, key wrapping, rotation and crypto-shredding.

Encrypted fields
    A value the minimization policy marks ``encrypt`` becomes the string
    ``enc1:<data key id>:<base64url of nonce || ciphertext>`` (base64url
    without padding; a 12-byte random nonce; AES-256-GCM, tag included). The
    associated data is ``f"{subject_key}\\x00{path}"``, ``path`` being the
    field path as the minimization summary writes it (list indexes as ``*``),
    so a value copied to another subject or another field does not decrypt.
    The plaintext is a one-byte type marker and the value: ``s`` and the UTF-8
    text of a string, ``j`` and the compact JSON of any other JSON value, so
    :meth:`Keyring.decrypt` returns exactly what was encrypted.

Data keys
    Random 32-byte keys, one current per subject, created on first use. An id
    is the key's generation (hex) followed by 8 random hex digits; the
    highest generation is the current key, and the random part keeps a key
    created after an erasure from ever answering to an older id. The store
    holds each key wrapped as::

        b"w1" | length of the master key id (1 byte) | master key id (ASCII)
              | nonce (12 bytes) | AES-256-GCM(kek, data key)

    ``kek`` is derived from the named master key (HKDF, label
    ``data-key-wrap/v1``) and the associated data is
    ``cdp_plugin/data-key\\x00<subject key>\\x00<data key id>\\x00<master key id>``.
    AES-GCM with this associated data is used rather than AES key wrap
    (RFC 3394) because it binds the wrapped key to its subject, its id and
    its master key: a row copied to another subject or id fails to unwrap.

Rotation
    :meth:`Keyring.rotate` re-wraps a subject's data keys under the current
    master key without changing their bytes (every old value still
    decrypts), then adds a new data key that new writes use. Master keys are
    listed newest first (:mod:`cdp_plugin.keys.master`); a data key wrapped under a
    master key no longer listed raises :class:`MasterKeyMissing`.

Erasure
    :meth:`Keyring.erase` deletes the subject's data keys (crypto-shredding):
    every ``enc1:`` value of that subject, in any copy anywhere, then raises
    :class:`KeyShredded`.

Every failure is a :class:`KeyringError` whose message names field paths
and key ids, never values or subject keys. No data key is cached beyond one
:meth:`Keyring.encrypter`, so an erasure takes effect for every later read at once.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cdp_plugin.errors import CdpPluginError
from cdp_plugin.keys.master import MasterKeys
from cdp_plugin.storage.base import Store

TOKEN_PREFIX = "enc1:"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_WRAP_VERSION = b"w1"
_WRAP_AAD = b"cdp_plugin/data-key"
_NONCE = 12
_TAG = 16
_RANDOM_HEX = 8
_STRING, _JSON = b"s", b"j"


class KeyringError(CdpPluginError):
    """A value could not be encrypted or decrypted, or a key could not be handled."""


class KeyShredded(KeyringError):
    """The data key a value needs is not in the store: the subject was erased
    (or the value is not this subject's). The value can never be read again."""


class MasterKeyMissing(KeyringError):
    """A data key is wrapped under a master key that is not configured any more."""


class DecryptionFailed(KeyringError):
    """A value or a wrapped key is malformed, tampered with, or belongs to
    another subject or field path."""


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """The configured master key ids and how many data keys each one wraps.

    ``data_keys`` counts wrapped keys per master key id, including ids that
    are no longer configured.
    """

    master_key_ids: tuple[str, ...]
    current: str
    pseudonym: str
    data_keys: Mapping[str, int]
    subjects: int


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _generation(key_id: str) -> int:
    try:
        return int(key_id[:-_RANDOM_HEX], 16)
    except ValueError:
        return -1


def _newest(key_ids: Iterable[str]) -> str:
    return max(key_ids, key=lambda key_id: (_generation(key_id), key_id))


def wrapped_by(wrapped: bytes) -> str | None:
    """The id of the master key that wrapped ``wrapped``, or None if the header is unreadable."""
    if len(wrapped) < 3 or wrapped[:2] != _WRAP_VERSION:
        return None
    size = wrapped[2]
    raw = wrapped[3:3 + size]
    if len(raw) != size:
        return None
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return None


def _field_aad(subject_key: str, path: str) -> bytes:
    return f"{subject_key}\x00{path}".encode()


def _encode_value(value: Any) -> bytes:
    if isinstance(value, str):
        return _STRING + value.encode()
    return _JSON + json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class Keyring:
    """Encrypts and decrypts field values under per-subject data keys kept in ``store``."""

    def __init__(self, store: Store, master_keys: MasterKeys,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self._store = store
        self._masters = master_keys
        self._clock = clock

    # -- writing -------------------------------------------------------------------------------

    def encrypter(self, subject_key: str) -> Callable[[str, Any], str]:
        """A function ``(path, value) -> enc1 token`` for one subject.

        The subject's current data key is read (or created and stored) on the
        first call only, so one event costs one store read however many fields
        it encrypts. Raises :class:`MasterKeyMissing` or
        :class:`DecryptionFailed` if the current data key cannot be unwrapped,
        StorageError if the store fails.
        """
        current: list[tuple[str, AESGCM]] = []

        def encrypt(path: str, value: Any) -> str:
            if not current:
                current.append(self._current_key(subject_key))
            key_id, cipher = current[0]
            nonce = secrets.token_bytes(_NONCE)
            sealed = cipher.encrypt(nonce, _encode_value(value), _field_aad(subject_key, path))
            text = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
            return f"{TOKEN_PREFIX}{key_id}:{text}"

        return encrypt

    def encrypt(self, subject_key: str, path: str, value: Any) -> str:
        """Encrypt one JSON value of ``subject_key`` at field ``path`` (see :meth:`encrypter`)."""
        return self.encrypter(subject_key)(path, value)

    # -- reading -------------------------------------------------------------------------------

    def decrypt(self, subject_key: str, path: str, token: str) -> Any:
        """The value an ``enc1:`` token of ``subject_key`` at ``path`` holds.

        A string comes back as the string; any other JSON value as that value.
        Raises :class:`KeyShredded` if the subject's data key was erased,
        :class:`MasterKeyMissing` if its master key is not configured,
        :class:`DecryptionFailed` if the token is malformed or tampered with, or
        the subject or path is not the one it was encrypted for.
        """
        key_id, nonce, sealed = self._parse(path, token)
        wrapped = self._store.get_keys(subject_key).get(key_id)
        if wrapped is None:
            raise KeyShredded(f"{path}: data key {key_id} is gone (the subject was erased, "
                              "or the value is another subject's)")
        cipher = AESGCM(self._unwrap(subject_key, key_id, wrapped))
        try:
            plain = cipher.decrypt(nonce, sealed, _field_aad(subject_key, path))
        except InvalidTag:
            raise DecryptionFailed(f"{path}: the value does not decrypt: it was altered, or "
                                   "belongs to another subject or field") from None
        marker, body = plain[:1], plain[1:]
        if marker == _STRING:
            return body.decode()
        if marker == _JSON:
            return json.loads(body)
        raise DecryptionFailed(f"{path}: the decrypted value has an unknown type marker")

    @staticmethod
    def _parse(path: str, token: str) -> tuple[str, bytes, bytes]:
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
            raise DecryptionFailed(f"{path}: not an {TOKEN_PREFIX} value")
        key_id, separator, text = token[len(TOKEN_PREFIX):].partition(":")
        if not separator or not key_id or not _BASE64URL.fullmatch(text):
            raise DecryptionFailed(f"{path}: malformed {TOKEN_PREFIX} value")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise DecryptionFailed(f"{path}: malformed {TOKEN_PREFIX} value") from None
        if len(raw) < _NONCE + _TAG + 1:
            raise DecryptionFailed(f"{path}: malformed {TOKEN_PREFIX} value")
        return key_id, raw[:_NONCE], raw[_NONCE:]

    # -- data keys -----------------------------------------------------------------------------

    def _current_key(self, subject_key: str) -> tuple[str, AESGCM]:
        wrapped = self._store.get_keys(subject_key)
        if not wrapped:
            key_id, key = self._create(subject_key, 1)
            return key_id, AESGCM(key)
        key_id = _newest(wrapped)
        return key_id, AESGCM(self._unwrap(subject_key, key_id, wrapped[key_id]))

    def _create(self, subject_key: str, generation: int) -> tuple[str, bytes]:
        key = secrets.token_bytes(32)
        key_id = f"{generation:04x}{secrets.token_hex(_RANDOM_HEX // 2)}"
        self._store.put_key(subject_key, key_id, self._wrap(subject_key, key_id, key),
                            self._clock())
        return key_id, key

    def _wrap(self, subject_key: str, key_id: str, key: bytes) -> bytes:
        master = self._masters.current
        kek = self._masters.kek(master.key_id)
        assert kek is not None  # the current key is always listed
        master_id = master.key_id.encode("ascii")
        nonce = secrets.token_bytes(_NONCE)
        sealed = AESGCM(kek).encrypt(nonce, key, self._wrap_aad(subject_key, key_id, master_id))
        return _WRAP_VERSION + bytes([len(master_id)]) + master_id + nonce + sealed

    def _unwrap(self, subject_key: str, key_id: str, wrapped: bytes) -> bytes:
        master_id = wrapped_by(wrapped)
        if master_id is None:
            raise DecryptionFailed(f"data key {key_id}: unreadable wrapping")
        kek = self._masters.kek(master_id)
        if kek is None:
            raise MasterKeyMissing(
                f"data key {key_id} is wrapped under master key {master_id}, which is not "
                f"configured (configured: {', '.join(self._masters.ids)})")
        body = wrapped[3 + len(master_id):]
        aad = self._wrap_aad(subject_key, key_id, master_id.encode("ascii"))
        try:
            return AESGCM(kek).decrypt(body[:_NONCE], body[_NONCE:], aad)
        except InvalidTag:
            raise DecryptionFailed(f"data key {key_id} does not unwrap under master key "
                                   f"{master_id}: altered, or stored for another subject or "
                                   "id") from None

    @staticmethod
    def _wrap_aad(subject_key: str, key_id: str, master_id: bytes) -> bytes:
        return b"\x00".join((_WRAP_AAD, subject_key.encode(), key_id.encode(), master_id))

    # -- lifecycle -----------------------------------------------------------------------------

    def rotate(self, subject_key: str | None = None) -> int:
        """Re-wrap data keys under the current master key and start a new data key.

        For one subject, or every subject with keys when ``subject_key`` is
        None. Each subject is
        rotated in one transaction: all of its keys are unwrapped first, so a
        key that cannot be unwrapped (:class:`MasterKeyMissing`,
        :class:`DecryptionFailed`) leaves that subject unchanged and stops the
        rotation. Returns the number of subjects rotated; subjects without
        keys are left without keys.
        """
        if subject_key is not None:
            return int(self._rotate_one(subject_key))
        rotated, previous = 0, None
        for subject, _key_id, _wrapped in self._store.iter_keys():
            # Rows this rotation just wrote may show up again on a later page.
            if subject != previous:
                rotated += self._rotate_one(subject)
                previous = subject
        return rotated

    def _rotate_one(self, subject_key: str) -> bool:
        store = self._store
        with store.transaction():
            wrapped = store.get_keys(subject_key)
            if not wrapped:
                return False
            keys = {key_id: self._unwrap(subject_key, key_id, blob)
                    for key_id, blob in wrapped.items()}
            # The store never replaces key material under an id, so the old
            # wrappings go first; the transaction makes the swap atomic.
            store.delete_keys(subject_key)
            now = self._clock()
            ordered = sorted(keys, key=lambda key_id: (_generation(key_id), key_id))
            for key_id in ordered:
                store.put_key(subject_key, key_id, self._wrap(subject_key, key_id, keys[key_id]),
                              now)
            self._create(subject_key, max(_generation(ordered[-1]), 0) + 1)
        return True

    def erase(self, subject_key: str) -> int:
        """Crypto-shred the subject: delete its data keys; return how many there were.

        Afterwards every ``enc1:`` value of the subject raises
        :class:`KeyShredded`. A later encrypted write creates a fresh key,
        which never opens the older values. Raises StorageError on failure.
        """
        return self._store.delete_keys(subject_key)

    def status(self) -> KeyStatus:
        """Master key ids, and data keys per wrapping master key."""
        counts: Counter[str] = Counter()
        subjects, previous = 0, None
        for subject, _key_id, wrapped in self._store.iter_keys():
            counts[wrapped_by(wrapped) or "unreadable"] += 1
            if subject != previous:  # listed in subject order
                subjects, previous = subjects + 1, subject
        masters = self._masters
        return KeyStatus(masters.ids, masters.current.key_id, masters.pseudonym.key_id,
                         dict(counts), subjects)
