"""Read an audit log directory and check it end to end.

This module owns the on-disk layout (documented in ``audits/README.md``): the
writer in :mod:`cdp_plugin.audit.log` resumes through the same reader, so a
log the writer accepts is one the verifier can check.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from cdp_plugin.audit.merkle import EMPTY_ROOT, CompactRange
from cdp_plugin.audit.note import Checkpoint, NoteError, NoteVerifier, parse_checkpoint

CHECKPOINTS_LOG = "checkpoints.log"
CHECKPOINT_LATEST = "checkpoint.latest"
_SEGMENT = re.compile(r"segment-([0-9]+)\.jsonl")
_READ_BUFFER = 1 << 20
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


@dataclass(slots=True)
class RecordScan:
    """What streaming the segments found, up to the first problem.

    ``roots`` maps each requested size to the recomputed root at that size.
    ``torn`` is set when the problem is an interrupted last line of the last
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


def scan_records(log_dir: Path, sizes: Collection[int] = ()) -> RecordScan:
    """Rehash every record from its raw line bytes and check its ``seq``.

    Stops at the first line that is incomplete, not a JSON object with a string
    ``kind``, or whose ``seq`` is not its leaf index; ``failure`` then says
    where. Never raises for bad content; raises ``OSError`` if a file cannot be read.
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
    sha256, tree, index = hashlib.sha256, scan.tree, 0
    for path in paths:
        scan.starts.append((path.name, index))
        with path.open("rb", buffering=_READ_BUFFER) as stream:
            for raw in stream:
                # The common case in one expression; _line_problem explains a failure.
                try:
                    text = raw.decode()
                    record, end = _decode(text)
                    seq = record["seq"]
                    good = (
                        text[end:] == "\n"
                        and seq == index
                        and type(seq) is int
                        and type(record["kind"]) is str
                    )
                except (ValueError, TypeError, KeyError, RecursionError):
                    good = False
                if not good:
                    problem, crash_damage = _line_problem(raw, index)
                    scan.records = index
                    scan.failure = f"{path.name} line {index - scan.starts[-1][1] + 1}: {problem}"
                    if crash_damage and path == paths[-1] and not stream.read(1):
                        scan.torn = (path, path.stat().st_size - len(raw), len(raw))
                    return scan
                tree.append(sha256(b"\x00" + raw[:-1]).digest())
                index += 1
                if index in wanted:
                    scan.roots[index] = tree.root()
    scan.records = index
    return scan


def _line_problem(raw: bytes, index: int) -> tuple[str, bool]:
    """What is wrong with a record line, and whether a crash mid-write explains it."""
    if not raw.endswith(b"\n"):
        return "incomplete line (no newline)", True
    try:
        text = raw.decode()
        record, end = _decode(text)
    except (ValueError, RecursionError):
        return "not valid JSON", True
    if end != len(text) - 1:
        return "not exactly one JSON value", True
    if type(record) is not dict or type(record.get("kind")) is not str:
        return "not a JSON object with a string kind", False
    return f"seq is not {index}, the record's position in the log", False


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
            checkpoint = parse_checkpoint(verifier.verify(note.decode()))
        except (NoteError, UnicodeDecodeError) as exc:
            reason = str(exc) if isinstance(exc, NoteError) else "not valid UTF-8"
            return found, f"{where}: {reason}"
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
) -> VerifyReport:
    """Check one log directory: record hashes and numbering, and every checkpoint.

    Each checkpoint (every entry of ``checkpoints.log``, and ``checkpoint.latest``)
    must be signed by ``verifier``'s key, carry the same origin (``origin`` or
    ``trusted.origin`` if given, else the first checkpoint's), never shrink, and
    match the root recomputed at its size. If ``trusted`` is given the log must
    extend it. Never raises for bad content; raises ``OSError`` if a file
    cannot be read.
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
        claims.append(("trusted checkpoint", trusted))
    scan = scan_records(log_dir, {c.size for _, c in claims})
    failure = scan.failure or _check_roots(scan, claims)
    if failure is not None:
        return VerifyReport(False, scan.records, len(logged), failure)
    latest = max(logged, key=lambda c: c.size, default=None)
    tail = scan.records - (latest.size if latest else 0)
    return VerifyReport(True, scan.records, len(logged), None, tail, latest)


def _check_roots(scan: RecordScan, claims: list[_Claim]) -> str | None:
    """The first checkpoint whose root differs from the records', located as closely as we can."""
    matched = 0  # the records below this index matched an earlier checkpoint
    for where, claim in claims:
        if claim.size > scan.records:
            return f"{where} covers {claim.size} records but the segments hold {scan.records}"
        if scan.roots[claim.size] != claim.root:
            if claim.size == 0:
                return f"{where} (size 0) does not carry the empty tree's root"
            first = scan.locate(min(matched, claim.size - 1))
            return (
                f"{where} (size {claim.size}) does not match the records: "
                f"a record from {first} to {scan.locate(claim.size - 1)} was altered"
            )
        matched = max(matched, claim.size)
    return None


def verify_directory(directory: Path, verifier: NoteVerifier) -> list[tuple[str, VerifyReport]]:
    """Verify every log under ``directory``: each subdirectory holding segments or checkpoints."""
    results = []
    for log_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        if (log_dir / CHECKPOINTS_LOG).exists() or any(log_dir.glob("segment-*.jsonl")):
            results.append((log_dir.name, verify_log(log_dir, verifier)))
    return results
