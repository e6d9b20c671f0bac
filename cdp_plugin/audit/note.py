"""C2SP signed notes with Ed25519 keys, and C2SP tlog checkpoints.

A signed note is UTF-8 text ending in a newline, a blank line, then one line
per signature: ``— <key name> <base64(key id || signature)>``. The key id is
the first four bytes of ``SHA256(name || 0x0A || 0x01 || public key)``, where
0x01 is the Ed25519 signature type. Key texts follow the same convention as
Go's ``golang.org/x/mod/sumdb/note``, so keys and notes interoperate with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cdp_plugin.errors import CdpPluginError

ALG_ED25519 = 0x01
_SIG_PREFIX = "— "
_MAX_SIGNATURES = 100  # bounds the work a hostile note can cause, as Go's reader does
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(CdpPluginError, ValueError):
    """A key, note or checkpoint is malformed, or a signature does not verify."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_name(name: str) -> str:
    if not name or "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise NoteError("key name must be non-empty, without spaces, '+' or control characters")
    return name


def _key_id(name: str, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _parse_key(name: str, key_id_hex: str, key64: str, what: str) -> bytes:
    """Check name and key id format, and return the 32 key bytes after the type byte."""
    _check_name(name)
    if not re.fullmatch(r"[0-9a-fA-F]{8}", key_id_hex):
        raise NoteError(f"{what}: key id must be 8 hex digits")
    key = _b64decode(key64, what)
    if len(key) != 33 or key[0] != ALG_ED25519:
        raise NoteError(f"{what}: only Ed25519 keys (type 0x01, 32 bytes) are supported")
    return key[1:]


def generate_signer_key(name: str) -> str:
    """A new private key text ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>``."""
    _check_name(name)
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    key_id = _key_id(name, private.public_key().public_bytes_raw())
    return f"PRIVATE+KEY+{name}+{key_id:08x}+{_b64(bytes([ALG_ED25519]) + seed)}"


def verifier_key_for(signer_key_text: str) -> str:
    """The verifier key text ``<name>+<key id>+<base64(0x01 || public key)>``."""
    return NoteSigner(signer_key_text).verifier_key


class NoteSigner:
    """Signs notes with one Ed25519 private key given as a key text.

    Raises :class:`NoteError` if the key text is malformed or its key id does
    not match its key.
    """

    def __init__(self, private_key_text: str) -> None:
        parts = private_key_text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("signer key must look like PRIVATE+KEY+<name>+<id>+<key>")
        seed = _parse_key(parts[2], parts[3], parts[4], "signer key")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.name = parts[2]
        self.public_key = self._key.public_key().public_bytes_raw()
        self.key_id = _key_id(self.name, self.public_key)
        if self.key_id != int(parts[3], 16):
            raise NoteError("signer key: key id does not match the key")

    @property
    def verifier_key(self) -> str:
        """The verifier key text for this signer."""
        return f"{self.name}+{self.key_id:08x}+{_b64(bytes([ALG_ED25519]) + self.public_key)}"

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line, and this key's signature line.

        Raises :class:`NoteError` if ``text`` does not end with a newline or
        holds control characters other than newlines.
        """
        data = _check_text(text)
        signature = self._key.sign(data)
        blob = self.key_id.to_bytes(4, "big") + signature
        return f"{text}\n{_SIG_PREFIX}{self.name} {_b64(blob)}\n"


class NoteVerifier:
    """Verifies notes against one Ed25519 verifier key given as a key text."""

    def __init__(self, verifier_key_text: str) -> None:
        parts = verifier_key_text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("verifier key must look like <name>+<id>+<key>")
        public_key = _parse_key(parts[0], parts[1], parts[2], "verifier key")
        self.name = parts[0]
        self.key_id = _key_id(self.name, public_key)
        if self.key_id != int(parts[1], 16):
            raise NoteError("verifier key: key id does not match the key")
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    def verify(self, note: str) -> str:
        """The note's text, if it carries a valid signature by this key.

        Signatures by other keys are ignored. Raises :class:`NoteError` if the
        note is malformed, has no signature by this key, or has one that does
        not verify.
        """
        text, signatures = _split(note)
        me = (self.name, self.key_id)
        mine = [sig for name, key_id, sig in signatures if (name, key_id) == me]
        if not mine:
            raise NoteError(f"note has no signature by key {self.name!r}")
        for sig in mine:
            try:
                self._key.verify(sig, text.encode())
            except InvalidSignature:
                raise NoteError(f"note signature by key {self.name!r} does not verify") from None
        return text


def _check_text(text: str) -> bytes:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if _CONTROL.search(text):
        raise NoteError("note text must not contain control characters other than newline")
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise NoteError("note text is not valid UTF-8") from None


def _split(note: str) -> tuple[str, list[tuple[str, int, bytes]]]:
    """Split a note into its text and its (name, key id, signature) triples, unverified."""
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block.split("\n")[:-1]
    if not lines or len(lines) > _MAX_SIGNATURES:
        raise NoteError("malformed note: it needs 1 to 100 signature lines")
    signatures = []
    for number, line in enumerate(lines, 1):
        name, _, sig64 = line.removeprefix(_SIG_PREFIX).partition(" ")
        blob = _b64decode(sig64, f"signature line {number}") if sig64 else b""
        if not line.startswith(_SIG_PREFIX) or len(blob) < 5:
            raise NoteError(f"malformed note: signature line {number}")
        _check_name(name)
        signatures.append((name, int.from_bytes(blob[:4], "big"), blob[4:]))
    return text, signatures


def note_text(note: str) -> str:
    """The text of a well-formed note, without checking any signature."""
    return _split(note)[0]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A C2SP tlog checkpoint: the log's origin, its size and its Merkle root."""

    origin: str
    size: int
    root: bytes


def check_origin(origin: str) -> str:
    """Return ``origin`` if it can be a checkpoint's first line; raise NoteError if not."""
    if not origin or "\n" in origin or _CONTROL.search(origin):
        raise NoteError("checkpoint origin must be one non-empty line without control characters")
    return origin


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """The checkpoint text ``origin\\nsize\\nbase64(root)\\n``."""
    check_origin(origin)
    if type(size) is not int or size < 0:
        raise NoteError("checkpoint size must be a non-negative integer")
    if len(root) != 32:
        raise NoteError("checkpoint root must be a 32-byte SHA-256 hash")
    return f"{origin}\n{size}\n{_b64(root)}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint text (a note's text, signatures already removed).

    Extension lines after the root are allowed by C2SP and ignored, but must
    not be empty. Raises :class:`NoteError` naming the line that is malformed.
    """
    if not text.endswith("\n"):
        raise NoteError("checkpoint must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, size and root lines")
    origin, size, root64, *extensions = lines
    check_origin(origin)
    if not _DECIMAL.fullmatch(size):
        raise NoteError("checkpoint line 2: size must be a decimal number without leading zeros")
    root = _b64decode(root64, "checkpoint line 3")
    if len(root) != 32:
        raise NoteError("checkpoint line 3: root must be a 32-byte hash")
    if any(not line for line in extensions):
        raise NoteError("checkpoint extension lines must not be empty")
    return Checkpoint(origin, int(size), root)
