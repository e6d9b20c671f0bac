"""Tampering with a realistic audit log: every change must fail verification, located.

One log of 10 000 records (checkpoints every 500, three segments) is built per
module; each test works on its own copy. The byte-flip test changes one byte
at a time in a single working copy, verifies, and restores the byte.
"""

from __future__ import annotations

import bisect
import json
import random
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.audit import scan as scan_module
from cdp_plugin.audit.layout import CHECKPOINT_LATEST, CHECKPOINTS_LOG, read_checkpoint_log
from cdp_plugin.audit.log import AuditLog, canonical_json
from cdp_plugin.audit.note import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    generate_signer_key,
    note_text,
)
from cdp_plugin.audit.scan import scan_records
from cdp_plugin.audit.verify import verify_log

ORIGIN = "cdp-plugin/w0"
SLUG = "cdp-plugin_w0"
RECORDS = 10_000
EVERY = 500
SEGMENT = 4_000
ACTIONS = ("allow", "drop", "quarantine")
REASONS = ("consent.granted", "consent.denied", "consent.unknown", "purpose.not_allowed",
           "quarantine.pending", "rule:eu-default")
PURPOSES = ("analytics", "marketing", "personalization", "ads")


@dataclass(frozen=True)
class Pristine:
    """The module's log: its directory, keys, and checkpoints kept from it."""

    root: Path
    signer: NoteSigner
    verifier: NoteVerifier
    checkpoints: dict[int, Checkpoint]

    @property
    def log_dir(self) -> Path:
        return self.root / SLUG


def decision(rng: random.Random, i: int) -> dict[str, Any]:
    action = rng.choice(ACTIONS)
    return {
        "kind": "event.decision",
        "message_id": f"msg-{i:06d}-{rng.getrandbits(32):08x}",
        "subject": f"s_{rng.getrandbits(128):032x}",
        "type": rng.choice(("track", "identify", "page")),
        "event": rng.choice(("Product Viewed", "Order Completed", "Email Opened", None)),
        "action": action,
        "reasons": sorted(rng.sample(REASONS, rng.randint(1, 2))),
        "purposes": sorted(rng.sample(PURPOSES, rng.randint(0, 2))) if action == "allow" else [],
        "jurisdiction": rng.choice(("EU", "US-CA", "BR", None)),
        "rules_version": "3f9c2a1b",
        "minimization": {"dropped": ["context.ip"]} if action == "allow" else {},
    }


def build_log(root: Path, signer: NoteSigner, records: list[dict[str, Any]],
              checkpoints: dict[int, Checkpoint] | None = None) -> None:
    with AuditLog(root, ORIGIN, signer, checkpoint_every=EVERY, checkpoint_interval=float("inf"),
                  segment_max_records=SEGMENT, fsync=False) as log:
        for record in records:
            log.append(record)
            if checkpoints is not None and log.size % EVERY == 0:
                checkpoints[log.size] = Checkpoint(ORIGIN, log.size, log.root())


def realistic_records(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records: list[dict[str, Any]] = [{"kind": "rules.loaded", "rules_version": "3f9c2a1b",
                                      "files": {"consent.yaml": "ab" * 32}, "plugins": []}]
    for i in range(1, count):
        if i % 97 == 0:
            records.append({"kind": "event.invalid", "message_id": f"msg-{i:06d}",
                            "problems": {"userId": "missing"}})
        else:
            records.append(decision(rng, i))
    for record in records:
        record["ts"] = "2024-05-01T12:00:00.000000Z"  # fixed, so two builds are byte-identical
    return records


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    signer = NoteSigner(generate_signer_key("audit-w0"))
    root = tmp_path_factory.mktemp("pristine")
    checkpoints: dict[int, Checkpoint] = {}
    build_log(root, signer, realistic_records(1, RECORDS), checkpoints)
    return Pristine(root, signer, NoteVerifier(signer.verifier_key), checkpoints)


@pytest.fixture
def log_dir(pristine: Pristine, tmp_path: Path) -> Path:
    """A private copy of the module's log."""
    copy = tmp_path / SLUG
    shutil.copytree(pristine.log_dir, copy)
    return copy


def segment(log_dir: Path, number: int) -> Path:
    return log_dir / f"segment-{number:06d}.jsonl"


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def line_of(record: dict[str, Any]) -> bytes:
    return canonical_json(record) + b"\n"


def failure_of(log_dir: Path, verifier: NoteVerifier, **kwargs: Any) -> str:
    report = verify_log(log_dir, verifier, **kwargs)
    assert not report.ok, "the change was not detected"
    assert report.failure is not None
    return report.failure


# --- locating a failure -------------------------------------------------------------

_AT_LINE = re.compile(r"(segment-(\d+)\.jsonl) line (\d+): ")
_ALTERED = re.compile(
    r"\(size \d+\) does not match the records: a record from segment-(\d+)\.jsonl line (\d+) "
    r"to segment-(\d+)\.jsonl line (\d+) was altered$"
)


def assert_locates_record(failure: str, segment_no: int, line: int) -> None:
    """The failure names this line, or a range of lines that holds it."""
    exact = _AT_LINE.match(failure)
    if exact:
        assert (int(exact[2]), int(exact[3])) == (segment_no, line), failure
        return
    altered = _ALTERED.search(failure)
    assert altered, failure
    first = (int(altered[1]), int(altered[2]))
    last = (int(altered[3]), int(altered[4]))
    assert first <= (segment_no, line) <= last, failure


def test_the_pristine_log_verifies(pristine: Pristine) -> None:
    report = verify_log(pristine.log_dir, pristine.verifier)
    assert (report.ok, report.records, report.checkpoints) == (True, RECORDS, RECORDS // EVERY + 1)
    assert len(list(pristine.log_dir.glob("segment-*.jsonl"))) == 3


# --- single-byte flips ---------------------------------------------------------------


def _flips(log_dir: Path, rng: random.Random) -> Iterator[tuple[Path, int]]:
    """(file, offset) pairs: 500 across the segments, 380 in checkpoints.log, 120 in latest."""
    segments = sorted(log_dir.glob("segment-*.jsonl"))
    sizes = [path.stat().st_size for path in segments]
    for offset in rng.sample(range(sum(sizes)), 500):
        for path, size in zip(segments, sizes, strict=True):
            if offset < size:
                yield path, offset
                break
            offset -= size
    for name, count in ((CHECKPOINTS_LOG, 380), (CHECKPOINT_LATEST, 120)):
        path = log_dir / name
        for offset in rng.sample(range(path.stat().st_size), count):
            yield path, offset


def _entry_of(ends: list[int], offset: int) -> tuple[str, ...]:
    """The failures a flip at ``offset`` of checkpoints.log may give (entry ``ends`` known)."""
    entry = bisect.bisect_right(ends, offset) + 1  # the 1-based entry holding the byte
    return (f"checkpoint {entry} in {CHECKPOINTS_LOG}: ",
            f"{CHECKPOINTS_LOG}: incomplete entry after checkpoint {entry - 1}")


def test_every_flipped_byte_is_detected_and_located(
    pristine: Pristine, log_dir: Path
) -> None:
    rng = random.Random(20240501)
    originals = {path: path.read_bytes() for path in log_dir.iterdir()}
    line_starts = {
        path: [0, *(i + 1 for i, byte in enumerate(data) if byte == 0x0A)]
        for path, data in originals.items()
        if path.name.startswith("segment-")
    }
    ends, end = [], 0
    for note in read_checkpoint_log(log_dir / CHECKPOINTS_LOG)[0]:
        end += len(note) + 1  # each entry is its note and one more newline
        ends.append(end)
    flips = list(_flips(log_dir, rng))
    assert len(flips) >= 1000
    for path, offset in flips:
        original = originals[path][offset]
        with path.open("r+b") as stream:
            stream.seek(offset)
            stream.write(bytes([original ^ rng.randrange(1, 256)]))
        try:
            failure = failure_of(log_dir, pristine.verifier)
        finally:
            with path.open("r+b") as stream:
                stream.seek(offset)
                stream.write(bytes([original]))
        where = f"{path.name} byte {offset}: {failure}"
        if path.name.startswith("segment-"):
            line = bisect.bisect_right(line_starts[path], offset)
            assert_locates_record(failure, int(path.name[8:14]), line)
        elif path.name == CHECKPOINTS_LOG:
            assert failure.startswith(_entry_of(ends, offset)), where
        else:
            assert failure.startswith(f"{CHECKPOINT_LATEST}: "), where
    assert verify_log(log_dir, pristine.verifier).ok  # every byte was restored


def test_a_signature_in_non_canonical_base64_is_detected(
    pristine: Pristine, log_dir: Path
) -> None:
    # The last base64 digit of a 68-byte signature carries 2 unused bits: changing
    # only those leaves the decoded signature valid, so the verifier must refuse it.
    latest = log_dir / CHECKPOINT_LATEST
    note = latest.read_text()
    body, _, tail = note.rstrip("\n").rpartition("=")[0].rpartition(" ")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(tail[-1])
    twin = alphabet[last ^ 1]
    latest.write_text(f"{body} {tail[:-1]}{twin}=\n")
    assert failure_of(log_dir, pristine.verifier) == (
        f"{CHECKPOINT_LATEST}: a signature is not in canonical base64"
    )


# --- records deleted, inserted, swapped, duplicated --------------------------------------


def renumber(log_dir: Path, segment_no: int, lines: list[bytes], first_seq: int) -> None:
    """Write ``lines`` as the segment, renumbering seq from ``first_seq`` on, and later segments."""
    later = range(segment_no + 1, len(list(log_dir.glob("segment-*.jsonl"))))
    groups = [lines, *(read_lines(segment(log_dir, number)) for number in later)]
    seq = first_seq
    for number, group in enumerate(groups, segment_no):
        fixed = []
        for raw in group:
            fixed.append(line_of(json.loads(raw) | {"seq": seq}))
            seq += 1
        write_lines(segment(log_dir, number), fixed)


def test_deleted_record_is_located(pristine: Pristine, log_dir: Path) -> None:
    lines = read_lines(segment(log_dir, 1))
    del lines[1234]
    write_lines(segment(log_dir, 1), lines)
    assert failure_of(log_dir, pristine.verifier) == (
        f"segment-000001.jsonl line 1235: seq is not {SEGMENT + 1234}, "
        "the record's position in the log"
    )


def test_deleted_record_with_renumbering_is_located(pristine: Pristine, log_dir: Path) -> None:
    lines = read_lines(segment(log_dir, 1))
    del lines[1234]
    renumber(log_dir, 1, lines, SEGMENT)
    failure = failure_of(log_dir, pristine.verifier)
    assert_locates_record(failure, 1, 1235)
    assert failure.startswith(f"checkpoint {(SEGMENT + 1500) // EVERY + 1} in {CHECKPOINTS_LOG}")


def test_inserted_record_with_renumbering_is_located(pristine: Pristine, log_dir: Path) -> None:
    lines = read_lines(segment(log_dir, 1))
    forged = decision(random.Random(7), 0) | {"ts": "2024-05-01T12:00:00.000000Z"}
    lines.insert(2345, line_of(forged))
    renumber(log_dir, 1, lines, SEGMENT)
    assert all(b'"seq":' in raw for raw in read_lines(segment(log_dir, 2)))
    assert_locates_record(failure_of(log_dir, pristine.verifier), 1, 2346)


def test_inserted_record_without_renumbering_is_located(
    pristine: Pristine, log_dir: Path
) -> None:
    lines = read_lines(segment(log_dir, 0))
    lines.insert(77, lines[500])
    write_lines(segment(log_dir, 0), lines)
    assert failure_of(log_dir, pristine.verifier).startswith(
        "segment-000000.jsonl line 78: seq is not 77"
    )


def test_swapped_records_are_located(pristine: Pristine, log_dir: Path) -> None:
    lines = read_lines(segment(log_dir, 2))
    lines[100], lines[900] = lines[900], lines[100]
    write_lines(segment(log_dir, 2), lines)
    assert failure_of(log_dir, pristine.verifier).startswith(
        f"segment-000002.jsonl line 101: seq is not {2 * SEGMENT + 100}"
    )


def test_swapped_records_with_renumbering_are_located(
    pristine: Pristine, log_dir: Path
) -> None:
    lines = read_lines(segment(log_dir, 2))
    lines[100], lines[900] = lines[900], lines[100]
    renumber(log_dir, 2, lines, 2 * SEGMENT)
    assert_locates_record(failure_of(log_dir, pristine.verifier), 2, 101)


def test_duplicated_record_is_located(pristine: Pristine, log_dir: Path) -> None:
    lines = read_lines(segment(log_dir, 0))
    lines.insert(3001, lines[3000])
    write_lines(segment(log_dir, 0), lines)
    assert failure_of(log_dir, pristine.verifier).startswith(
        "segment-000000.jsonl line 3002: seq is not 3001"
    )


def test_duplicated_record_with_renumbering_is_located(
    pristine: Pristine, log_dir: Path
) -> None:
    lines = read_lines(segment(log_dir, 0))
    lines.insert(3001, lines[3000])
    renumber(log_dir, 0, lines, 0)
    assert_locates_record(failure_of(log_dir, pristine.verifier), 0, 3002)


# --- truncation, foreign keys, forks -----------------------------------------------------


def test_truncation_behind_a_trusted_checkpoint_is_detected(
    pristine: Pristine, log_dir: Path
) -> None:
    # Cut everything after the checkpoint of size 6000: a consistent, shorter log.
    keep = 6000
    notes = read_checkpoint_log(log_dir / CHECKPOINTS_LOG)[0]
    kept = [n for n in notes if int(note_text(n.decode()).split("\n")[1]) <= keep]
    (log_dir / CHECKPOINTS_LOG).write_bytes(b"".join(note + b"\n" for note in kept))
    (log_dir / CHECKPOINT_LATEST).write_bytes(kept[-1])
    write_lines(segment(log_dir, 1), read_lines(segment(log_dir, 1))[: keep - SEGMENT])
    segment(log_dir, 2).unlink()
    # Alone, the cut log is self-consistent: only an earlier view can tell.
    assert verify_log(log_dir, pristine.verifier).ok
    trusted = pristine.checkpoints[RECORDS]
    assert failure_of(log_dir, pristine.verifier, trusted=trusted) == (
        f"trusted checkpoint covers {RECORDS} records but the segments hold {keep}"
    )


def test_checkpoints_resigned_with_a_foreign_key_are_rejected(
    pristine: Pristine, log_dir: Path
) -> None:
    for name in (pristine.signer.name, "someone-else"):
        foreign = NoteSigner(generate_signer_key(name))
        path = log_dir / CHECKPOINTS_LOG
        notes = [note_text(n.decode()) for n in read_checkpoint_log(path)[0]]
        path.write_text("".join(foreign.sign(text) + "\n" for text in notes))
        (log_dir / CHECKPOINT_LATEST).write_text(foreign.sign(notes[-1]))
        assert verify_log(log_dir, NoteVerifier(foreign.verifier_key)).ok
        assert failure_of(log_dir, pristine.verifier) == (
            f"checkpoint 1 in {CHECKPOINTS_LOG}: note has no signature by key "
            f"{pristine.signer.name!r}"
        )


def test_a_fork_under_the_real_key_fails_against_a_stored_checkpoint(
    pristine: Pristine, tmp_path: Path
) -> None:
    records = realistic_records(1, RECORDS)
    records[3210] = records[3210] | {"action": "allow", "reasons": ["consent.granted"]}
    fork_root = tmp_path / "fork"
    build_log(fork_root, pristine.signer, records)
    fork = fork_root / SLUG
    # The fork is a valid log in its own right, signed by the real key ...
    assert verify_log(fork, pristine.verifier).ok
    # ... but it does not extend what the real log had already published.
    failure = failure_of(fork, pristine.verifier, trusted=pristine.checkpoints[4000])
    assert failure == (
        "trusted checkpoint (size 4000) does not match the records: "
        "a record from segment-000000.jsonl line 1 to segment-000000.jsonl line 4000 "
        "was altered"
    )
    # Checkpoints from before the fork still match.
    assert verify_log(fork, pristine.verifier, trusted=pristine.checkpoints[3000]).ok


# --- chunked and parallel scanning find the same first failure ---------------------------


def test_small_chunks_locate_a_wrong_seq_at_a_chunk_start(
    pristine: Pristine, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_module, "_CHUNK_BYTES", 997)
    assert verify_log(log_dir, pristine.verifier).ok
    lines = read_lines(segment(log_dir, 0))
    # Delete the first line of a chunk: the chunk's own numbering stays consistent, and
    # chunk boundaries before the deletion do not move, so it still starts a chunk.
    path = segment(log_dir, 0)
    starts = {start for _, start, _ in scan_module._plan_chunks(path, path.stat().st_size, 997)}
    offsets = [0, *accumulate(map(len, lines))]
    boundary = next(i for i in range(50, len(lines)) if offsets[i] in starts)
    del lines[boundary]
    write_lines(segment(log_dir, 0), lines)
    assert failure_of(log_dir, pristine.verifier).startswith(
        f"segment-000000.jsonl line {boundary + 1}: seq is not {boundary}"
    )


def test_parallel_scan_gives_the_same_results(
    pristine: Pristine, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_module, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(scan_module, "_PARALLEL_CHUNK_BYTES", 50_000)
    sizes = sorted(pristine.checkpoints)
    sequential = scan_records(log_dir, sizes)
    parallel = scan_records(log_dir, sizes, workers=2)
    assert (parallel.records, parallel.roots, parallel.starts, parallel.tree.root()) == (
        sequential.records, sequential.roots, sequential.starts, sequential.tree.root())
    lines = read_lines(segment(log_dir, 2))
    del lines[1500]
    lines[-1] = lines[-1][:-1]  # and a torn last line, which comes after
    write_lines(segment(log_dir, 2), lines)
    report = verify_log(log_dir, pristine.verifier, workers=2)
    assert report.failure == (
        f"segment-000002.jsonl line 1501: seq is not {2 * SEGMENT + 1500}, "
        "the record's position in the log"
    )
    assert report.records == 2 * SEGMENT + 1500
