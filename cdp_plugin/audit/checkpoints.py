"""A log's checkpoints read and checked: which key signed them, and whether they hold.

:func:`signed_checkpoints` verifies every checkpoint of a log directory in
order (signature, canonical encoding, origin, growth) and stops at the first
problem; the helpers that pick a verifier compare key names and ids only,
leaving signatures to it. Comparing checkpoints with the records is
:mod:`cdp_plugin.audit.verify`'s work.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from pathlib import Path

from cdp_plugin.audit.layout import CHECKPOINT_LATEST, CHECKPOINTS_LOG, read_checkpoint_log
from cdp_plugin.audit.note import Checkpoint, NoteError, NoteVerifier, parse_checkpoint

_SIG_PREFIX = "— "
Claim = tuple[str, Checkpoint]
"""A checkpoint and where it was read (``checkpoint 3 in checkpoints.log``)."""


def signature_keys(note: str) -> list[tuple[str, int]]:
    """The ``(key name, key id)`` of each well-formed signature line of ``note``, unverified."""
    block = note[note.rfind("\n\n") + 2 :] if "\n\n" in note else ""
    keys = []
    for line in block.split("\n"):
        name, _, sig64 = line.removeprefix(_SIG_PREFIX).partition(" ")
        try:
            blob = base64.b64decode(sig64, validate=True)
        except (binascii.Error, ValueError):
            continue
        if line.startswith(_SIG_PREFIX) and len(blob) >= 4:
            keys.append((name, int.from_bytes(blob[:4], "big")))
    return keys


def verifier_for_note(note: str, verifiers: Sequence[NoteVerifier]) -> NoteVerifier | None:
    """The first of ``verifiers`` whose key name and id sign ``note`` (signature unchecked)."""
    keys = set(signature_keys(note))
    return next((v for v in verifiers if (v.name, v.key_id) in keys), None)


def verifier_for_log(log_dir: Path, verifiers: Sequence[NoteVerifier]) -> NoteVerifier | None:
    """The verifier, among ``verifiers``, whose key signed the log's first checkpoint.

    Only names and key ids are compared here; :func:`signed_checkpoints` checks
    every signature. ``None`` if no key matches or the log has no checkpoint.
    """
    notes = read_checkpoint_log(log_dir / CHECKPOINTS_LOG)[0]
    latest = log_dir / CHECKPOINT_LATEST
    first = notes[0] if notes else latest.read_bytes() if latest.exists() else b""
    return verifier_for_note(first.decode(errors="replace"), verifiers)


def _canonical_signatures(note: str) -> bool:
    """Whether every signature is in canonical base64.

    Base64 decoding ignores the unused low bits of the last character, so two
    texts can decode to the same signature; requiring the canonical one makes
    every changed byte of a note a failure, not only the ones the signature covers.
    """
    block = note[note.rfind("\n\n") + 2 :]
    for line in block.split("\n")[:-1]:
        sig64 = line.rpartition(" ")[2]
        try:
            if base64.b64encode(base64.b64decode(sig64, validate=True)).decode() != sig64:
                return False
        except (binascii.Error, ValueError):
            return False
    return True



def signed_checkpoints(
    log_dir: Path, verifier: NoteVerifier, origin: str | None
) -> tuple[list[Claim], str | None]:
    """Every checkpoint in order (``checkpoint.latest`` last), verified, until the first problem.

    Each must be signed by ``verifier``'s key in canonical base64, carry
    ``origin`` (if ``None``, the first checkpoint's) and, in ``checkpoints.log``,
    never shrink. Returns the checkpoints verified and the first problem
    (``None`` if there is none), which names the checkpoint. Raises ``OSError``
    if a file cannot be read.
    """
    notes, complete, total = read_checkpoint_log(log_dir / CHECKPOINTS_LOG)
    entries = [(f"checkpoint {n} in {CHECKPOINTS_LOG}", note) for n, note in enumerate(notes, 1)]
    latest = log_dir / CHECKPOINT_LATEST
    if latest.exists():
        entries.append((CHECKPOINT_LATEST, latest.read_bytes()))
    found: list[Claim] = []
    for where, note in entries:
        try:
            text = note.decode()
            checkpoint = parse_checkpoint(verifier.verify(text))
        except (NoteError, UnicodeDecodeError) as exc:
            reason = str(exc) if isinstance(exc, NoteError) else "not valid UTF-8"
            return found, f"{where}: {reason}"
        if not _canonical_signatures(text):
            return found, f"{where}: a signature is not in canonical base64"
        origin = origin or checkpoint.origin
        if checkpoint.origin != origin:
            return found, f"{where}: origin is not {origin!r}"
        if where != CHECKPOINT_LATEST and found and checkpoint.size < found[-1][1].size:
            return found, f"{where}: size decreased from {found[-1][1].size} to {checkpoint.size}"
        found.append((where, checkpoint))
    if complete != total:
        return found, f"{CHECKPOINTS_LOG}: incomplete entry after checkpoint {len(notes)}"
    return found, None
