"""Keyed pseudonyms: stable, unlinkable stand-ins for subject ids and field values."""

from __future__ import annotations

import hashlib
import hmac

from cdp_plugin.keys.master import MasterKeys, derive_key

_SUBJECT_MEMO_LIMIT = 65_536


class Pseudonymizer:
    """Keyed pseudonyms (HMAC-SHA256) for subjects and field values.

    The same input always maps to the same pseudonym under the same keys, so
    records can be joined without revealing the identifier. Subject
    pseudonyms use the oldest listed master key and survive rotation; field
    hashes use the current one and carry its derived key id, so they change
    when the current key changes. ``master_keys`` is what a
    :class:`cdp_plugin.keys.keyring.Keyring` needs.
    """

    def __init__(self, master: bytes | MasterKeys) -> None:
        keys = master if isinstance(master, MasterKeys) else MasterKeys.single(master)
        self.master_keys = keys
        self._subject_key = derive_key(keys.pseudonym.secret, "subject-pseudonym/v1")
        self._field_key = derive_key(keys.current.secret, "field-hash/v1")
        self._message_key = derive_key(keys.pseudonym.secret, "message-id/v1")
        self._assignment_key = derive_key(keys.pseudonym.secret, "experiment-assignment/v1")
        self.key_id = hashlib.sha256(self._field_key).hexdigest()[:8]
        # Keyed HMACs ready to copy: a copy skips the key schedule of a new one.
        self._subject_mac = hmac.new(self._subject_key, digestmod=hashlib.sha256)
        self._message_mac = hmac.new(self._message_key, digestmod=hashlib.sha256)
        self._field_mac = hmac.new(self._field_key, digestmod=hashlib.sha256)
        # Subjects recur on every event of theirs (several times per event: the
        # subject, linked ids, the consent lookups), and so do the hashed fields
        # (``userId``, ``anonymousId``), so their pseudonyms are kept, within a
        # bound; message ids are new each time and are not.
        self._subjects: dict[str, str] = {}
        self._fields: dict[str, str] = {}

    def subject(self, subject_id: str) -> str:
        """The subject key stored and audited in place of ``subject_id``."""
        known = self._subjects.get(subject_id)
        if known is None:
            if len(self._subjects) >= _SUBJECT_MEMO_LIMIT:
                self._subjects.clear()
            known = self._subjects[subject_id] = "s_" + _keyed(self._subject_mac, subject_id)[:32]
        return known

    def message(self, message_id: str) -> str:
        """The key stored (replay detection, quarantine) and audited in place of a
        client's ``messageId``, which is free text and may embed personal data
        (an email address, a user id). Like subject keys it survives rotation, so
        a replay is still recognised after the current master key changes."""
        return "m_" + _keyed(self._message_mac, message_id)[:32]

    def assignment(self, salt: str, subject_key: str) -> bytes:
        """The keyed hash (HMAC-SHA256, 32 bytes) that places ``subject_key`` in
        the experiment salted ``salt``. Keyed like subject pseudonyms, so it is
        the same in every worker and survives key rotation, and no one without
        the key can predict or steer an assignment."""
        message = salt.encode() + b"\0" + subject_key.encode()
        return hmac.new(self._assignment_key, message, hashlib.sha256).digest()

    def field(self, value: str) -> str:
        """A keyed pseudonym of a field value, prefixed with the key id."""
        known = self._fields.get(value)
        if known is None:
            if len(self._fields) >= _SUBJECT_MEMO_LIMIT:
                self._fields.clear()
            known = self._fields[value] = f"h1:{self.key_id}:{_keyed(self._field_mac, value)[:32]}"
        return known


def _keyed(mac: hmac.HMAC, text: str) -> str:
    """The hex HMAC of ``text`` under the key ``mac`` was made with."""
    copy = mac.copy()
    copy.update(text.encode())
    return copy.hexdigest()
