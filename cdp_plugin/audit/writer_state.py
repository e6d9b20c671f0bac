"""The writer's own signed statement of what it made durable: ``writer.state``.

A checkpoint commits to the records it covers, but records written since the
last checkpoint (the unsigned tail) are committed to by nothing in the log,
so an edit to them cannot be seen from the log alone. After every flush, once
its records are durable and before ``flush()`` returns, the writer records the
tree's size and root in ``writer.state`` as a note signed with the log's key;
a reopened writer signs only the records that statement vouches for.

The file holds two fixed-size slots, written alternately in place (slot
``generation % 2``) and fsynced, each a signed note padded with NUL bytes:
a crash in the middle of one write leaves the other slot, one flush older,
intact. The note text cannot be mistaken for a checkpoint: its second line is
never a number.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from cdp_plugin.audit.durable import replace, write_all
from cdp_plugin.audit.note import NoteError, NoteSigner, NoteVerifier

WRITER_STATE = "writer.state"
_HEADER = "cdp-plugin audit writer state"
_SLOT_UNIT = 512
_MAX = 2**64 - 1  # sizes and generations fit 20 digits, so a slot never grows


@dataclass(frozen=True, slots=True)
class WriterState:
    """After flush number ``generation``, the first ``size`` records had root ``root``."""

    generation: int
    size: int
    root: bytes


def _text(origin: str, state: WriterState) -> str:
    root64 = base64.b64encode(state.root).decode()
    return (f"{_HEADER}\norigin {origin}\ngeneration {state.generation}\n"
            f"size {state.size}\nroot {root64}\n")


def _parse(text: str, origin: str) -> WriterState | None:
    lines = text.split("\n")
    if len(lines) != 6 or lines[0] != _HEADER or lines[1] != f"origin {origin}":
        return None
    try:
        fields = dict(line.split(" ", 1) for line in lines[2:5])
        generation, size = int(fields["generation"]), int(fields["size"])
        root = base64.b64decode(fields["root"], validate=True)
    except (ValueError, KeyError, binascii.Error):
        return None
    if generation < 0 or size < 0 or len(root) != 32:
        return None
    return WriterState(generation, size, root)


class StateFile:
    """``writer.state`` of one log, signed and checked with the log's key.

    :meth:`read` never raises for bad content; :meth:`create` and
    :meth:`write` raise ``OSError`` if the file cannot be written.
    """

    def __init__(self, log_dir: Path, origin: str, signer: NoteSigner, *, fsync: bool) -> None:
        self.path = log_dir / WRITER_STATE
        self._origin = origin
        self._signer = signer
        self._verifier = NoteVerifier(signer.verifier_key)
        self._fsync = fsync
        longest = len(self._note(WriterState(_MAX, _MAX, bytes(32))))
        self._slot = -(-longest // _SLOT_UNIT) * _SLOT_UNIT
        self._fd: int | None = None

    def _note(self, state: WriterState) -> bytes:
        return self._signer.sign(_text(self._origin, state)).encode()

    def _slot_bytes(self, state: WriterState) -> bytes:
        return self._note(state).ljust(self._slot, b"\0")

    def read(self) -> tuple[WriterState | None, str]:
        """The newest valid state, or ``None`` and why there is none."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None, f"{WRITER_STATE} is missing"
        except OSError as exc:
            return None, f"{WRITER_STATE} cannot be read ({exc.strerror or type(exc).__name__})"
        half = len(data) // 2
        slots = (data[:half], data[half:]) if half and len(data) % 2 == 0 else ()
        found = []
        for number, slot in enumerate(slots):
            try:
                text = self._verifier.verify(slot.rstrip(b"\0").decode())
            except (NoteError, UnicodeDecodeError):
                continue
            state = _parse(text, self._origin)
            if state is not None and state.generation % 2 == number:  # not a copied slot
                found.append(state)
        if not found:
            return None, f"{WRITER_STATE} holds no state signed by key {self._signer.name!r}"
        return max(found, key=lambda state: state.generation), ""

    def create(self, state: WriterState) -> None:
        """Replace the file atomically with one holding ``state`` (the other slot empty)."""
        slots = [bytes(self._slot), bytes(self._slot)]
        slots[state.generation % 2] = self._slot_bytes(state)
        replace(self.path, b"".join(slots), self._fsync)
        self.close()
        self._fd = os.open(self.path, os.O_WRONLY)

    def write(self, state: WriterState) -> None:
        """Overwrite slot ``state.generation % 2`` in place, then fsync if the log does."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY)
        write_all(self._fd, self._slot_bytes(state), (state.generation % 2) * self._slot)
        if self._fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        """Close the descriptor :meth:`create` or :meth:`write` opened; later writes reopen."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

