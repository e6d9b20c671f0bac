"""What a writer checks before it continues a log, and what a crash lets it repair.

A reopened writer signs, at its next checkpoint, every record on disk. So
before it writes anything it must be able to vouch for all of them:

* the last checkpoint in ``checkpoints.log`` is well formed, of this log's
  origin and signed with this writer's key, and ``checkpoint.latest`` is that
  checkpoint or, after a crash between the two writes, the one before it;
* the records up to the last checkpoint hash to its root;
* the records after it (the unsigned tail) parse and are numbered without
  gaps, and hash to the root that ``writer.state`` (:mod:`.writer_state`) says
  the writer made durable. Records past that size come from a flush that
  never returned, so they were never reported durable and are cut.

Anything else raises :class:`Damaged`; the writer then refuses the log. The
functions here only read; the writer applies the repairs they return.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cdp_plugin.audit.checkpoints import signature_keys
from cdp_plugin.audit.layout import CHECKPOINT_LATEST, CHECKPOINTS_LOG
from cdp_plugin.audit.merkle import EMPTY_ROOT
from cdp_plugin.audit.note import (
    Checkpoint,
    NoteError,
    NoteVerifier,
    note_text,
    parse_checkpoint,
)
from cdp_plugin.audit.refusal import AuditLogRefused
from cdp_plugin.audit.scan import RecordScan
from cdp_plugin.audit.writer_state import WRITER_STATE, WriterState
from cdp_plugin.errors import AuditError


class Damaged(Exception):
    """The log holds something no crash of its writer explains; ``reason`` says what and where.

    Reasons name files, sizes and line numbers, never record contents.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TailCut:
    """Records past ``writer.state`` to cut: ``segment`` from byte ``offset`` (``length`` bytes)."""

    segment: Path
    offset: int
    length: int


def last_checkpoint(
    notes: list[bytes], origin: str, verifier: NoteVerifier, label: str
) -> Checkpoint | None:
    """The last checkpoint of ``checkpoints.log``, checked; ``None`` if there is none.

    Raises :class:`Damaged` if it is malformed or its signature does not
    verify; :class:`AuditError` if it belongs to another origin and
    :class:`AuditLogRefused` if only another key signed it (setup problems,
    not damage: nothing is noted in ``refusals.log``).
    """
    if not notes:
        return None
    try:
        note = notes[-1].decode()
        checkpoint = parse_checkpoint(note_text(note))
        if checkpoint.origin != origin:
            raise AuditError(f"{label} belongs to another origin")
        if (verifier.name, verifier.key_id) not in signature_keys(note):
            raise AuditLogRefused(
                f"{label} is signed with another key than {verifier.name!r}: a log keeps "
                "one signing key from its start; configure the key that signed it, or "
                "give this process a new worker_id"
            )
        verifier.verify(note)
    except (NoteError, UnicodeDecodeError) as exc:
        detail = exc if isinstance(exc, NoteError) else "not valid UTF-8"
        raise Damaged(f"the last entry of {CHECKPOINTS_LOG}: {detail}") from None
    return checkpoint


def latest_is_stale(notes: list[bytes], latest: bytes | None) -> bool:
    """Whether ``checkpoint.latest`` lags one checkpoint behind, as a crash can leave it.

    ``False`` when it is the last entry of ``checkpoints.log``. Raises
    :class:`Damaged` when it is anything else: missing although
    ``checkpoints.log`` has more than one entry, further behind, or a
    checkpoint that ``checkpoints.log`` does not end with.
    """
    if not notes:
        if latest is None:
            return False
        raise Damaged(f"{CHECKPOINT_LATEST} exists but {CHECKPOINTS_LOG} holds no checkpoint")
    if latest == notes[-1]:
        return False
    if latest is None and len(notes) == 1:
        return True  # the first checkpoint ever was interrupted before its copy was written
    if latest is not None and len(notes) > 1 and latest == notes[-2]:
        return True
    raise Damaged(
        f"{CHECKPOINT_LATEST} is neither the last checkpoint in {CHECKPOINTS_LOG} nor the one "
        "before it, the most a crash can leave it behind"
    )


def check_records(
    scan: RecordScan, last: Checkpoint | None, state: WriterState | None, no_state: str
) -> int:
    """How many records to keep: all, or the size ``writer.state`` vouches for.

    ``scan`` must hold the roots at the last checkpoint's size and at the
    state's size. ``no_state`` says why ``state`` is ``None``. Raises
    :class:`Damaged` if the records disagree with the checkpoint or the state.
    """
    signed, root = (last.size, last.root) if last else (0, EMPTY_ROOT)
    held = scan.records
    if held < signed:
        raise Damaged(f"the last checkpoint covers {signed} records but the segments hold {held}")
    if scan.roots.get(signed) != root:
        raise Damaged(f"the records do not match the last checkpoint (size {signed})")
    if state is None:
        if held > signed:
            raise Damaged(
                f"{held - signed} records after the last checkpoint ({scan.locate(signed)} to "
                f"{scan.locate(held - 1)}) are vouched for by nothing: {no_state}"
            )
        return held
    if state.size < signed:
        raise Damaged(f"{WRITER_STATE} (size {state.size}) is older than the last checkpoint "
                      f"(size {signed})")
    if state.size > held:
        raise Damaged(f"{WRITER_STATE} says {state.size} records were made durable but the "
                      f"segments hold {held}")
    if scan.roots.get(state.size) != state.root:
        raise Damaged(
            f"the records after the last checkpoint do not match {WRITER_STATE} (size "
            f"{state.size}): a record from {scan.locate(signed)} to "
            f"{scan.locate(state.size - 1)} was altered"
        )
    return state.size


def tail_cut(log_dir: Path, scan: RecordScan, keep: int) -> TailCut | None:
    """Where to cut the records from index ``keep`` on; ``None`` if there are none.

    One flush writes to one segment, so such records are all in the last
    segment; raises :class:`Damaged` if they are not. Raises ``OSError`` if
    the segment cannot be read.
    """
    if keep >= scan.records:
        return None
    name, first = scan.starts[-1]
    if first > keep:
        raise Damaged(f"records past {WRITER_STATE} (from {scan.locate(keep)}) span "
                      "several segments; no interrupted flush leaves that")
    path = log_dir / name
    data = path.read_bytes()
    offset = 0
    for _ in range(keep - first):
        offset = data.index(b"\n", offset) + 1
    end = offset
    for _ in range(scan.records - keep):
        end = data.index(b"\n", end) + 1
    return TailCut(path, offset, end - offset)
