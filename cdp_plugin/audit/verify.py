"""Read an audit log directory and check it end to end.

This module owns the on-disk layout (documented in ``audits/README.md``): the
writer in :mod:`cdp_plugin.audit.log` resumes through the same reader, so a
log the writer accepts is one the verifier can check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

from cdp_plugin.audit.merkle import EMPTY_ROOT, CompactRange
from cdp_plugin.audit.note import Checkpoint, NoteError, NoteVerifier, parse_checkpoint

CHECKPOINTS_LOG = "checkpoints.log"
CHECKPOINT_LATEST = "checkpoint.latest"
_SEGMENT = re.compile(r"segment-([0-9]+)\.jsonl")
_SIG_PREFIX = "— "
# Small chunks let a scan stop soon after the first bad checkpoint; large ones keep
# worker processes busy with little overhead per chunk.
_CHUNK_BYTES = 1 << 18
_PARALLEL_CHUNK_BYTES = 1 << 23
_PARALLEL_MIN_BYTES = 1 << 26  # below this, starting worker processes costs more than it saves
_MAX_WORKERS = 8
# raw_decode skips json.loads' whitespace handling, which halves the cost of a line;
# a record line is exactly one JSON value and its newline, never padded.
_decode = json.JSONDecoder().raw_decode


def segment_name(number: int) -> str:
    """The file name of segment ``number``: ``segment-000042.jsonl``."""
    return f"segment-{number:06d}.jsonl"


def log_slug(origin: str) -> str:
    """The directory name of the log with this origin line.

    Characters other than ASCII letters, digits, ``.``, ``_`` and ``-`` become
    ``_``; a leading dot gets a ``_`` prefix so the name is never hidden or
    ``..``. Distinct origins may share a slug: the writer refuses to open a
    directory whose checkpoints carry another origin.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", origin)
    return f"_{slug}" if slug.startswith(".") else slug


def is_log_directory(path: Path) -> bool:
    """Whether ``path`` holds an audit log: a ``checkpoints.log`` or segment files."""
    return (path / CHECKPOINTS_LOG).exists() or any(path.glob("segment-*.jsonl"))


def list_segments(log_dir: Path) -> list[Path]:
    """The segment files in order; raises ``ValueError`` naming a gap or a stray name."""
    numbered: dict[int, Path] = {}
    for path in log_dir.glob("segment-*.jsonl"):
        match = _SEGMENT.fullmatch(path.name)
        if not match or path.name != segment_name(int(match[1])):
            raise ValueError(f"{path.name} is not a segment file name")
        numbered[int(match[1])] = path
    for number in range(len(numbered)):
        if number not in numbered:
            raise ValueError(f"{segment_name(number)} is missing")
    return [numbered[n] for n in range(len(numbered))]


def read_checkpoint_log(path: Path) -> tuple[list[bytes], int, int]:
    """The complete signed notes in ``checkpoints.log``, and how much of it they span.

    Each entry is a signed note followed by one extra newline, so an entry ends
    at the second ``\\n\\n`` after its start. Returns ``(notes, complete_bytes,
    total_bytes)``; bytes past ``complete_bytes`` are an interrupted entry.
    """
    data = path.read_bytes() if path.exists() else b""
    notes: list[bytes] = []
    start = 0
    while (text_end := data.find(b"\n\n", start)) >= 0:
        end = data.find(b"\n\n", text_end + 2)
        if end < 0:
            break
        notes.append(data[start : end + 1])
        start = end + 2
    return notes, start, len(data)


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

    Only names and key ids are compared here; :func:`verify_log` then checks
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


_WRONG_SEQ = None  # what _line_problem says of a well-formed line: its seq is wrong


def _line_problem(line: bytes, newline: bool) -> tuple[str | None, bool]:
    """What is wrong with a record line (``None``: its seq), and whether a crash explains it."""
    if not newline:
        return "incomplete line (no newline)", True
    try:
        text = line.decode()
        record, end = _decode(text)
    except (ValueError, RecursionError):
        return "not valid JSON", True
    if end != len(text):
        return "not exactly one JSON value", True
    if type(record) is not dict or type(record.get("kind")) is not str:
        return "not a JSON object with a string kind", False
    return _WRONG_SEQ, False


@dataclass(frozen=True, slots=True)
class _ChunkScan:
    """One chunk's lines checked and hashed, up to the first bad line.

    ``first_seq`` is the first line's ``seq``; later lines are checked against
    it, and the caller checks it against the record's index, so chunks can be
    scanned in any order. ``problem`` is ``(what, crash damage, offset, bytes)``
    of the bad line, ``what`` being ``None`` for a wrong ``seq``.
    """

    leaves: list[bytes]
    first_seq: int | None
    problem: tuple[str | None, bool, int, int] | None


def _scan_chunk(path: Path, start: int, end: int) -> _ChunkScan:
    """Check and hash the lines of ``path`` between byte offsets ``start`` and ``end``."""
    with path.open("rb") as stream:
        stream.seek(start)
        data = stream.read(end - start)
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" unless the chunk ends inside a line
    first_seq: int | None = None
    if lines:
        try:
            seq = _decode(lines[0].decode())[0]["seq"]
            first_seq = seq if type(seq) is int else None
        except (ValueError, TypeError, KeyError, RecursionError):
            pass
    expected = -1 if first_seq is None else first_seq
    sha256, leaves = hashlib.sha256, list[bytes]()
    append = leaves.append
    for line in lines:
        # The common case in one expression; _line_problem explains a failure.
        try:
            text = line.decode()
            record, stop = _decode(text)
            seq = record["seq"]
            good = (
                stop == len(text)
                and seq == expected
                and type(seq) is int
                and type(record["kind"]) is str
            )
        except (ValueError, TypeError, KeyError, RecursionError):
            good = False
        if not good:
            what, crash = _line_problem(line, True)
            offset = start + sum(map(len, lines[: len(leaves)])) + len(leaves)
            return _ChunkScan(leaves, first_seq, (what, crash, offset, len(line) + 1))
        append(sha256(b"\x00" + line).digest())
        expected += 1
    problem = None
    if tail:
        what, crash = _line_problem(tail, False)
        problem = (what, crash, end - len(tail), len(tail))
    return _ChunkScan(leaves, first_seq, problem)


def _plan_chunks(path: Path, size: int, chunk_bytes: int) -> list[tuple[Path, int, int]]:
    """Byte ranges of ``path``'s first ``size`` bytes, each ending just after a newline."""
    chunks = []
    start = 0
    with path.open("rb") as stream:
        while start < size:
            end = start + chunk_bytes
            if end < size:
                stream.seek(end)
                end = min(end + len(stream.readline()), size)
            else:
                end = size
            chunks.append((path, start, end))
            start = end
    return chunks


def default_workers() -> int:
    """How many processes a large scan uses: the CPUs this process may run on, at most 8."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        available = os.cpu_count() or 1
    return max(1, min(available, _MAX_WORKERS))


@dataclass(slots=True)
class RecordScan:
    """What streaming the segments found, up to the first problem.

    ``roots`` maps each requested size reached to the recomputed root at that
    size. ``torn`` is set when the problem is an interrupted last line of the last
    segment, the one damage a crash can leave: ``(file, offset, bytes)``.
    """

    records: int = 0
    tree: CompactRange = field(default_factory=CompactRange)
    roots: dict[int, bytes] = field(default_factory=dict)
    starts: list[tuple[str, int]] = field(default_factory=list)
    failure: str | None = None
    torn: tuple[Path, int, int] | None = None

    def locate(self, index: int) -> str:
        """Where record ``index`` sits: segment file name and 1-based line number."""
        name, first = next((s for s in reversed(self.starts) if s[1] <= index), ("?", 0))
        return f"{name} line {index - first + 1}"


StopCheck = Callable[[int, bytes], bool]
"""Called with each requested size and its root as the scan reaches it; ``True`` stops it."""


def scan_records(
    log_dir: Path,
    sizes: Collection[int] = (),
    *,
    stop: StopCheck | None = None,
    workers: int = 1,
) -> RecordScan:
    """Rehash every record from its raw line bytes and check its ``seq``.

    Stops at the first line that is incomplete, not a JSON object with a string
    ``kind``, or whose ``seq`` is not its leaf index; ``failure`` then says
    where. With ``workers`` > 1 a large log is read by that many processes,
    with the same result. Never raises for bad content; raises ``OSError`` if
    a file cannot be read.
    """
    scan = RecordScan()
    wanted = set(sizes)
    if 0 in wanted:
        scan.roots[0] = EMPTY_ROOT
    try:
        paths = list_segments(log_dir)
    except ValueError as exc:
        scan.failure = str(exc)
        return scan
    lengths = [path.stat().st_size for path in paths]
    parallel = workers > 1 and sum(lengths) >= _PARALLEL_MIN_BYTES
    chunk_bytes = _PARALLEL_CHUNK_BYTES if parallel else _CHUNK_BYTES
    plans = [
        _plan_chunks(path, length, chunk_bytes)
        for path, length in zip(paths, lengths, strict=True)
    ]
    chunks = [chunk for plan in plans for chunk in plan]
    if not parallel:
        _fold(scan, paths, plans, (_scan_chunk(*chunk) for chunk in chunks), wanted, stop)
        return scan
    # Spawned workers share nothing with this process (threads, locks, open files).
    with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=get_context("spawn")) as pool:
        try:
            _fold(scan, paths, plans, _in_order(pool, chunks, 2 * workers), wanted, stop)
        finally:
            pool.shutdown(cancel_futures=True)
    return scan


def _in_order(
    pool: ProcessPoolExecutor, chunks: list[tuple[Path, int, int]], window: int
) -> Iterator[_ChunkScan]:
    """The chunks' scans in order, with at most ``window`` in flight so memory stays bounded."""
    waiting = iter(chunks)
    running: deque[Future[_ChunkScan]] = deque(
        pool.submit(_scan_chunk, *chunk) for chunk in islice(waiting, window)
    )
    while running:
        result = running.popleft().result()
        for chunk in islice(waiting, 1):
            running.append(pool.submit(_scan_chunk, *chunk))
        yield result


def _fold(
    scan: RecordScan,
    paths: list[Path],
    plans: list[list[tuple[Path, int, int]]],
    results: Iterator[_ChunkScan],
    wanted: set[int],
    stop: StopCheck | None,
) -> None:
    """Add the chunks' leaves to the tree in order, up to the first problem or stop."""
    tree, roots, index = scan.tree, scan.roots, 0
    last_path = paths[-1] if paths else None
    for path, plan in zip(paths, plans, strict=True):
        scan.starts.append((path.name, index))
        for _, _, end in plan:
            chunk = next(results)
            leaves, problem = chunk.leaves, chunk.problem
            if leaves and chunk.first_seq != index:
                # Later lines were checked against the first one's seq, which is wrong.
                leaves, problem = [], (_WRONG_SEQ, False, 0, 0)
            for leaf in leaves:
                tree.append(leaf)
                index += 1
                if index in wanted:
                    roots[index] = root = tree.root()
                    if stop is not None and stop(index, root):
                        scan.records = index
                        return
            if problem is not None:
                what, crash, offset, length = problem
                scan.records = index
                reason = what or f"seq is not {index}, the record's position in the log"
                scan.failure = f"{scan.locate(index)}: {reason}"
                if crash and path == last_path and offset + length == end == plan[-1][2]:
                    scan.torn = (path, offset, length)
                return
    scan.records = index


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of checking one log.

    ``failure`` is the first problem found, saying where (segment file and
    line, or checkpoint number); ``records`` counts records checked before it.
    ``unsigned_tail`` counts valid records past the latest checkpoint, which
    is not a failure: the writer signs them at its next checkpoint.
    """

    ok: bool
    records: int
    checkpoints: int
    failure: str | None = None
    unsigned_tail: int = 0
    latest: Checkpoint | None = None


_Claim = tuple[str, Checkpoint]  # where it was read, what it claims
_TRUSTED = "trusted checkpoint"


def _signed_checkpoints(
    log_dir: Path, verifier: NoteVerifier, origin: str | None
) -> tuple[list[_Claim], str | None]:
    """Every checkpoint in order (``checkpoint.latest`` last), verified, until the first problem."""
    notes, complete, total = read_checkpoint_log(log_dir / CHECKPOINTS_LOG)
    entries = [(f"checkpoint {n} in {CHECKPOINTS_LOG}", note) for n, note in enumerate(notes, 1)]
    latest = log_dir / CHECKPOINT_LATEST
    if latest.exists():
        entries.append((CHECKPOINT_LATEST, latest.read_bytes()))
    found: list[_Claim] = []
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


def verify_log(
    log_dir: Path,
    verifier: NoteVerifier,
    trusted: Checkpoint | None = None,
    *,
    origin: str | None = None,
    workers: int = 1,
) -> VerifyReport:
    """Check one log directory: record hashes and numbering, and every checkpoint.

    Each checkpoint (every entry of ``checkpoints.log``, and ``checkpoint.latest``)
    must be signed by ``verifier``'s key, carry the same origin (``origin`` or
    ``trusted.origin`` if given, else the first checkpoint's), never shrink, and
    match the root recomputed at its size. If ``trusted`` is given the log must
    extend it. ``workers`` > 1 reads a large log (64 MiB or more) in that many
    processes, started with the ``spawn`` method: call it from a program whose
    main module is import-safe (``if __name__ == "__main__":``).
    :func:`default_workers` gives one per CPU. Never raises for bad content;
    raises ``OSError`` if a file cannot be read.
    """
    if not log_dir.is_dir():
        return VerifyReport(False, 0, 0, f"{log_dir.name} is not a log directory")
    expected = origin or (trusted.origin if trusted else None)
    claims, failure = _signed_checkpoints(log_dir, verifier, expected)
    logged = [c for where, c in claims if where != CHECKPOINT_LATEST]
    if failure is None and not logged:
        # The writer signs a checkpoint when it creates a log: records without one are not ours.
        failure = f"{CHECKPOINTS_LOG} is missing or empty"
    if failure is not None:
        return VerifyReport(False, 0, len(logged), failure)
    if trusted is not None:
        claims.append((_TRUSTED, trusted))
    # Checked in size order, so the first failure is the earliest in the log and the
    # scan can stop as soon as it reaches a size whose root is wrong.
    claims.sort(key=lambda claim: claim[1].size)
    by_size: dict[int, list[bytes]] = {}
    for _, claim in claims:
        by_size.setdefault(claim.size, []).append(claim.root)

    def wrong_root(size: int, root: bytes) -> bool:
        return any(claimed != root for claimed in by_size[size])

    scan = scan_records(log_dir, by_size, stop=wrong_root, workers=workers)
    failure = scan.failure or _check_roots(scan, claims)
    if failure is not None:
        return VerifyReport(False, scan.records, len(logged), failure)
    latest = max(logged, key=lambda c: c.size, default=None)
    tail = scan.records - (latest.size if latest else 0)
    return VerifyReport(True, scan.records, len(logged), None, tail, latest)


def _check_roots(scan: RecordScan, claims: list[_Claim]) -> str | None:
    """The first checkpoint, by size, whose root differs from the records', located."""
    matched = 0  # the records below this index matched an earlier checkpoint
    for where, claim in claims:
        if claim.size > scan.records:
            return f"{where} covers {claim.size} records but the segments hold {scan.records}"
        if scan.roots[claim.size] != claim.root:
            if claim.size == 0:
                return f"{where} (size 0) does not carry the empty tree's root"
            # A trusted checkpoint comes from another view of the log: the log's own
            # checkpoints say nothing about where that view and these records part.
            start = 0 if where == _TRUSTED else min(matched, claim.size - 1)
            first = scan.locate(start)
            return (
                f"{where} (size {claim.size}) does not match the records: "
                f"a record from {first} to {scan.locate(claim.size - 1)} was altered"
            )
        matched = claim.size
    return None


def verify_directory(
    directory: Path, verifier: NoteVerifier, *, workers: int = 1
) -> list[tuple[str, VerifyReport]]:
    """Verify every log under ``directory``: each subdirectory holding segments or checkpoints."""
    results = []
    for log_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        if is_log_directory(log_dir):
            results.append((log_dir.name, verify_log(log_dir, verifier, workers=workers)))
    return results
