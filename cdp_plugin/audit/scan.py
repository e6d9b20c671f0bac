"""Stream a log's segment files, check each record line and rehash it into the tree.

:func:`scan_records` is the one pass over the records that verification,
resuming a writer and proofs build on: it checks that every line is one JSON
object with a string ``kind`` and a ``seq`` equal to its position, recomputes
the RFC 9162 tree from the raw line bytes, and reports the first problem and
whether a crash explains it. A large log can be read by several processes with
the same result.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

from cdp_plugin.audit.layout import list_segments
from cdp_plugin.audit.merkle import EMPTY_ROOT, CompactRange

# Small chunks let a scan stop soon after the first bad checkpoint; large ones keep
# worker processes busy with little overhead per chunk.
_CHUNK_BYTES = 1 << 18
_PARALLEL_CHUNK_BYTES = 1 << 23
_PARALLEL_MIN_BYTES = 1 << 26  # below this, starting worker processes costs more than it saves
_MAX_WORKERS = 8
# raw_decode skips json.loads' whitespace handling, which halves the cost of a line;
# a record line is exactly one JSON value and its newline, never padded.
_decode = json.JSONDecoder().raw_decode


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
