"""The audit log writer: canonical JSON lines in a Merkle tree, with signed checkpoints.

Records are buffered in memory and written at :meth:`AuditLog.flush` (or at
the next checkpoint); a checkpoint is only signed after the records it covers
are durable. Every ``OSError`` surfaces as :class:`~cdp_plugin.errors.AuditError`
after the writer has rolled back to its last durable state; the log then
refuses further work until it is reopened, so records appended before the
failure can never pass for durable. Only one writer may hold a log directory at a time
(:mod:`cdp_plugin.audit.writer_lock`). Each flush records what is durable in the
signed ``writer.state`` (:mod:`cdp_plugin.audit.writer_state`), and a reopened
writer continues a log only if :mod:`cdp_plugin.audit.open_checks` finds every
record vouched for by a checkpoint or that state; otherwise it refuses with
:class:`~cdp_plugin.audit.refusal.AuditLogRefused` and notes why in
``refusals.log``. The layout is described in ``audits/README.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from cdp_plugin.audit.durable import fsync_directory, replace, truncate, write_all
from cdp_plugin.audit.layout import (
    CHECKPOINT_LATEST,
    CHECKPOINTS_LOG,
    log_slug,
    read_checkpoint_log,
    segment_name,
)
from cdp_plugin.audit.merkle import CompactRange, leaf_hash
from cdp_plugin.audit.note import (
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    check_origin,
    format_checkpoint,
)
from cdp_plugin.audit.open_checks import (
    Damaged,
    check_records,
    last_checkpoint,
    latest_is_stale,
    tail_cut,
)
from cdp_plugin.audit.refusal import REFUSALS_LOG, AuditLogRefused, record_refusal
from cdp_plugin.audit.scan import RecordScan, scan_records
from cdp_plugin.audit.writer_lock import WriterLock
from cdp_plugin.audit.writer_state import WRITER_STATE, StateFile, WriterState
from cdp_plugin.errors import AuditError, ConfigError
from cdp_plugin.types import AuditEntry

REPAIR_KIND = "audit.repair"
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


_ORJSON_CANONICAL = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                     | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS)
# orjson writes every float below 1e-4 differently from repr(): as a token starting
# "0.0000" ("-0.0000") or holding a digit then "e-". It writes NaN and infinities as
# null, where allow_nan=False refuses. Each is recognised by the byte before it.
_VALUE_START = b":[,-"
_SUSPECT_FORMS = ((b"e-", b"0123456789"), (b"0.0000", _VALUE_START), (b"null", _VALUE_START))


def _perhaps_not_canonical(data: bytes) -> bool:
    """Whether orjson's bytes may hold a token the standard library writes otherwise
    (inside a string such a form only costs a second encoding)."""
    for form, preceded_by in _SUSPECT_FORMS:
        at = data.find(form)
        while at != -1:
            if at == 0 or data[at - 1] in preceded_by:
                return True
            at = data.find(form, at + 1)
    return False


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The exact bytes of a record's line (without the newline); its Merkle leaf input.

    The canonical form is the standard library's (sorted keys, compact, UTF-8,
    no NaN). orjson writes it several times faster and byte for byte the same,
    except for the cases it passes to the standard library: what it refuses
    or would encode differently (big integers, subclasses, datetimes,
    dataclasses, keys that are not strings), and output that may hold NaN or
    a small float's form (``tests/audit/test_canonical_json.py`` checks both
    against each other). Raises ``TypeError`` or ``ValueError`` if the record
    is not JSON-serializable.
    """
    try:
        data = orjson.dumps(record, option=_ORJSON_CANONICAL)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _ENCODER.encode(record).encode()
    if _perhaps_not_canonical(data):
        return _ENCODER.encode(record).encode()
    return data


_second: tuple[int, str] = (-1, "")  # the last second formatted: formatting is half of ts's cost


def _utc_now() -> str:
    """UTC ISO-8601 with microseconds and ``Z``, e.g. ``2024-05-01T12:00:00.000001Z``."""
    global _second
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    second = _second
    if second[0] != seconds:
        second = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{second[1]}.{micros:06d}Z"


class AuditLog:
    """An append-only, tamper-evident log of audit records for one origin.

    Not safe across processes: one writer per log directory. Safe across
    threads. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        directory: Path,
        origin: str,
        signer: NoteSigner,
        *,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 1.0,
        segment_max_records: int = 100_000,
        fsync: bool = True,
    ) -> None:
        try:
            self.origin = check_origin(origin)
        except NoteError as exc:
            raise ConfigError(f"audit log origin: {exc}") from None
        if checkpoint_every < 1 or segment_max_records < 1 or checkpoint_interval < 0:
            raise ConfigError("audit log: checkpoint_every, segment_max_records must be >= 1")
        self.directory = Path(directory) / log_slug(origin)
        self._label = f"audit log {self.directory.name!r}"  # errors name the log, never data
        self._signer = signer
        self._verifier = NoteVerifier(signer.verifier_key)
        self._state = StateFile(self.directory, self.origin, signer, fsync=fsync)
        self._state_generation = 0
        self._every = checkpoint_every
        self._interval = checkpoint_interval
        self._segment_max = segment_max_records
        self._fsync = fsync
        self._lock = threading.RLock()
        self._pending: list[bytes] = []
        self._fd: int | None = None
        self._closed = self._broken = False
        # Set from the files on disk by _resume.
        self._tree = CompactRange()
        self._durable_tree = CompactRange()
        self._segment_no = self._segment_records = self._offset = self._checkpoints_offset = 0
        self._checkpoint_size: int | None = None
        self._checkpoint_time = 0.0
        self._writer = self._take_writer_lock()
        try:
            self._resume()
        except BaseException:
            with contextlib.suppress(AuditError):
                self._close_segment()
            self._state.close()
            self._writer.release()
            raise

    def _take_writer_lock(self) -> WriterLock:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            return WriterLock(self.directory, self.origin)
        except OSError as exc:
            raise AuditError(f"{self._label}: cannot open the log directory: "
                             f"{exc.strerror or type(exc).__name__}") from exc

    @property
    def size(self) -> int:
        """How many records the log holds, including appended but unflushed ones."""
        return self._tree.size

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called; a closed log accepts no records and no flush."""
        return self._closed

    def root(self) -> bytes:
        """The Merkle root over every record appended so far."""
        with self._lock:
            return self._tree.root()

    def _rollback(self, fd: int | None, length: int, action: str, exc: OSError) -> AuditError:
        """Return to the last durable state, cutting a partial write from ``fd``, and fail."""
        self._tree = self._durable_tree.copy()
        self._pending.clear()
        # Refuse further work: the caller may hold entries of records that were just dropped.
        self._broken = True
        with contextlib.suppress(OSError):  # if this fails too, reopening repairs the tail
            if fd is not None:
                os.ftruncate(fd, length)
        return AuditError(f"{self._label}: cannot {action}: {exc.strerror or type(exc).__name__}")

    def _fsync_dir(self) -> None:
        fsync_directory(self.directory, self._fsync)

    def _resume(self) -> None:
        try:
            try:
                repairs, last, scan = self._check_and_repair()
            except Damaged as exc:
                # Noted beside the log, never in it: nothing is added to a log in doubt.
                record_refusal(self.directory, self.origin, exc.reason, fsync=self._fsync)
                raise AuditLogRefused(
                    f"{self._label}: {exc.reason}; the writer will not sign records it cannot "
                    f"vouch for and refuses to continue this log (noted in {REFUSALS_LOG})"
                ) from None
            self._tree = scan.tree
            # Segments are numbered from 0 without gaps, or the scan would have failed.
            self._segment_no = max(len(scan.starts) - 1, 0)
            self._segment_records = scan.records - (scan.starts[-1][1] if scan.starts else 0)
            path = self.directory / segment_name(self._segment_no)
            self._offset = path.stat().st_size if path.exists() else 0
            self._durable_tree = self._tree.copy()
            if self._segment_records >= self._segment_max:
                self._rotate()
        except OSError as exc:
            raise self._rollback(None, 0, "open the log directory", exc) from exc
        self._checkpoint_size = last.size if last else None
        self._checkpoint_time = time.monotonic()
        for file_name, cut in repairs:
            self.append({"kind": REPAIR_KIND, "truncated_bytes": cut, "segment": file_name})
        if self._checkpoint_size != self.size:
            self._checkpoint()

    def _check_and_repair(self) -> tuple[list[tuple[str, int]], Checkpoint | None, RecordScan]:
        """Run the checks of :mod:`~cdp_plugin.audit.open_checks`, then repair a crash's damage.

        Returns the repairs made (file, bytes cut), the last checkpoint and the
        records' scan after the repairs. Raises ``Damaged`` before changing any
        file if a check fails.
        """
        path = self.directory / CHECKPOINTS_LOG
        notes, complete, total = read_checkpoint_log(path)
        latest_path = self.directory / CHECKPOINT_LATEST
        latest = latest_path.read_bytes() if latest_path.exists() else None
        last = last_checkpoint(notes, self.origin, self._verifier, self._label)
        stale = latest_is_stale(notes, latest)
        state, no_state = self._state.read()
        signed = last.size if last else 0
        scan = scan_records(self.directory, [signed] + ([state.size] if state else []))
        if scan.failure is not None and scan.torn is None:
            raise Damaged(scan.failure)
        keep = check_records(scan, last, state, no_state)
        cut = tail_cut(self.directory, scan, keep)
        # Every check passed: only now is anything a crash left repaired.
        repairs: list[tuple[str, int]] = []
        if complete < total:
            self._truncate(path, complete)
            repairs.append((CHECKPOINTS_LOG, total - complete))
        self._checkpoints_offset = complete
        if scan.torn is not None:
            torn_path, offset, length = scan.torn
            self._truncate(torn_path, offset)
            repairs.append((torn_path.name, length))
        if cut is not None:  # records of a flush that never returned: never reported durable
            self._truncate(cut.segment, cut.offset)
            repairs.append((cut.segment.name, cut.length))
            scan = scan_records(self.directory)
            if scan.failure is not None or scan.records != keep:
                raise AuditError(f"{self._label}: the records changed while it was opened")
        if stale:
            replace(self.directory / CHECKPOINT_LATEST, notes[-1], self._fsync)
            repairs.append((CHECKPOINT_LATEST, len(latest or b"")))
        self._state_generation = (state.generation if state else 0) + 1
        self._state.create(WriterState(self._state_generation, scan.records, scan.tree.root()))
        return repairs, last, scan

    def _truncate(self, path: Path, length: int) -> None:
        truncate(path, length, self._fsync)

    def _check_open(self) -> None:
        if self._closed:
            raise AuditError(f"{self._label} is closed")
        if self._broken:
            raise AuditError(f"{self._label} failed earlier; reopen it")

    def append(self, record: Mapping[str, Any]) -> AuditEntry:
        """Add one record and return its entry; durable only after the next flush.

        The record gets ``seq`` (its index) and, if absent, ``ts``. Raises
        :class:`AuditError` if the record has no string ``kind``, is not JSON
        serializable, or a checkpoint due now cannot be written; the record is
        then not in the log, unless only signing failed, which leaves it durable.
        """
        with self._lock:
            self._check_open()
            kind = record.get("kind")
            if not isinstance(kind, str) or not kind:
                raise AuditError("audit record needs a non-empty string 'kind'")
            data = dict(record)
            data["seq"] = index = self._tree.size
            if "ts" not in data:
                data["ts"] = _utc_now()
            try:
                line = canonical_json(data)
            except (TypeError, ValueError) as exc:
                raise AuditError(
                    f"audit record of kind {kind!r} is not JSON-serializable ({type(exc).__name__})"
                ) from None
            leaf = leaf_hash(line)
            self._pending.append(line + b"\n")
            self._tree.append(leaf)
            self._segment_records += 1
            if self._segment_records >= self._segment_max:
                self._checkpoint()
                self._rotate()
            elif (
                self.size - (self._checkpoint_size or 0) >= self._every
                or time.monotonic() - self._checkpoint_time >= self._interval
            ):
                self._checkpoint()
            return AuditEntry(index, kind, leaf.hex(), MappingProxyType(data))

    def flush(self) -> None:
        """Write every appended record, and fsync it if the log was opened with ``fsync``."""
        with self._lock:
            self._check_open()
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        try:
            if self._fd is None:
                path = self.directory / segment_name(self._segment_no)
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._fsync_dir()
            write_all(self._fd, data)
            if self._fsync:
                os.fsync(self._fd)
        except OSError as exc:
            name = segment_name(self._segment_no)
            raise self._rollback(self._fd, self._offset, f"write {name}", exc) from exc
        try:  # vouches for the records a reopened writer may sign; flush() returns only after
            self._state_generation += 1
            self._state.write(
                WriterState(self._state_generation, self._tree.size, self._tree.root())
            )
        except OSError as exc:
            # The records stay: whether or not the new state landed, a reopened writer
            # keeps them (it did) or cuts them as never reported durable (it did not).
            raise self._rollback(None, 0, f"write {WRITER_STATE}", exc) from exc
        self._pending.clear()
        self._offset += len(data)
        self._durable_tree = self._tree.copy()

    def _close_segment(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError as exc:
                name = segment_name(self._segment_no)
                raise self._rollback(None, 0, f"close {name}", exc) from exc

    def _rotate(self) -> None:
        self._close_segment()
        self._segment_no += 1
        self._segment_records = self._offset = 0

    def _checkpoint(self) -> None:
        self._flush()
        self._checkpoint_time = time.monotonic()
        if self._checkpoint_size == self.size:
            return
        note = self._signer.sign(format_checkpoint(self.origin, self.size, self._tree.root()))
        entry = note.encode() + b"\n"  # the extra newline ends the entry in checkpoints.log
        # On failure the records stay durable, as an unsigned tail a later checkpoint covers.
        fd: int | None = None
        try:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            fd = os.open(self.directory / CHECKPOINTS_LOG, flags, 0o644)
            write_all(fd, entry)
            if self._fsync:
                os.fsync(fd)
        except OSError as exc:
            error = self._rollback(fd, self._checkpoints_offset, f"write {CHECKPOINTS_LOG}", exc)
            raise error from exc
        finally:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._checkpoints_offset += len(entry)
        self._checkpoint_size = self.size
        try:
            replace(self.directory / CHECKPOINT_LATEST, note.encode(), self._fsync)
        except OSError as exc:
            raise self._rollback(None, 0, f"write {CHECKPOINT_LATEST}", exc) from exc

    def close(self) -> None:
        """Write a final checkpoint and release the files; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if not self._broken:
                    self._checkpoint()
            finally:
                try:
                    self._close_segment()
                finally:
                    self._state.close()
                    self._writer.release()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
